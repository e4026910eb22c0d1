package config_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ssehub/ssehub/config"
)

func TestDurableSubscriptions(t *testing.T) {
	d := config.Default().DurableStreams.Subscriptions
	r := d.Resolved()
	if !d.On() || r.MaxSubscriptions != 1000 || r.MaxStreams != 1000 || time.Duration(r.WebhookTimeout) != 10*time.Second ||
		r.WebhookConcurrency != 16 || len(r.AllowedNetworks()) != 0 || r.PublicURL != "" {
		t.Fatalf("defaults: %+v", r)
	}
	c, err := config.Parse([]byte("durable_streams:\n  subscriptions:\n    enabled: false\n    max_streams: 5\n    webhook_timeout: 2s\n" +
		"    webhook_allow_networks: [127.0.0.1/32, \"::1\", 10.1.2.3/8]\n    public_url: https://hub.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.DurableStreams.Subscriptions
	want := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.0.0.0/8")}
	got := s.AllowedNetworks()
	if s.On() || s.Resolved().MaxStreams != 5 || time.Duration(s.WebhookTimeout) != 2*time.Second || len(got) != 3 ||
		got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || s.PublicURL != "https://hub.example" {
		t.Fatalf("%+v %v", s, got)
	}
	_, err = config.Parse([]byte("durable_streams:\n  subscriptions:\n    max_subscriptions: -1\n    webhook_concurrency: -1\n" +
		"    webhook_allow_networks: [\"localhost\"]\n    public_url: \"ftp://x\"\n"))
	for _, k := range []string{"subscriptions.max_subscriptions", "subscriptions.webhook_concurrency", "subscriptions.webhook_allow_networks", "subscriptions.public_url"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("error %v: want one naming %s", err, k)
		}
	}
}

// TestWebhookAllowNetworksRefusesTooWide: a careless entry such as
// 0.0.0.0/0 would switch the SSRF guard off entirely, cloud metadata
// included; networks that wide, or any network that holds a metadata
// address without being just that address, are refused at load.
func TestWebhookAllowNetworksRefusesTooWide(t *testing.T) {
	for _, n := range []string{"0.0.0.0/0", "::/0", "128.0.0.0/1", "0.0.0.0/7", "169.254.0.0/16", "169.254.169.0/24", "fd00:ec2::/64", "fd00::/8", "fc00::/7", "::ffff:0.0.0.0/96", "::ffff:10.0.0.0/104"} {
		_, err := config.Parse([]byte("durable_streams:\n  subscriptions:\n    webhook_allow_networks: [\"" + n + "\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "webhook_allow_networks") {
			t.Errorf("%s: %v, want refused", n, err)
		}
	}
	for _, n := range []string{"10.0.0.0/8", "127.0.0.0/8", "192.168.0.0/16", "fd12:3456::/32", "169.254.169.254", "169.254.169.254/32", "fd00:ec2::254", "::1"} {
		if _, err := config.Parse([]byte("durable_streams:\n  subscriptions:\n    webhook_allow_networks: [\"" + n + "\"]\n")); err != nil {
			t.Errorf("%s: %v, want accepted", n, err)
		}
	}
}
