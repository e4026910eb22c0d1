package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"
)

// Durable Streams subscription defaults (see docs/durable-streams.md,
// "Subscriptions").
const (
	DefaultDurableSubscriptions       = 1_000
	DefaultDurableSubscriptionStreams = 1_000
	DefaultDurableWebhookTimeout      = 10 * time.Second
	DefaultDurableWebhookConcurrency  = 16
)

// DurableSubscriptions configures the Durable Streams subscription APIs
// (protocol sections 6–7: /v1/stream/__ds/subscriptions/{id}, webhooks
// and pull-wake), durable_streams.subscriptions in the YAML.
type DurableSubscriptions struct {
	// Enabled serves the subscription APIs; absent means true (they need
	// tokens like the streams do).
	Enabled *bool `yaml:"enabled"`
	// MaxSubscriptions bounds the subscriptions the hub keeps (default
	// 1,000; a new one past it gets 429).
	MaxSubscriptions int `yaml:"max_subscriptions"`
	// MaxStreams bounds the streams one subscription links, explicit and
	// by its pattern (default 1,000).
	MaxStreams int `yaml:"max_streams"`
	// WebhookTimeout bounds one webhook request, from the dial to the end
	// of its answer (default 10 s).
	WebhookTimeout Duration `yaml:"webhook_timeout"`
	// WebhookConcurrency bounds the webhook requests in flight at once
	// (default 16).
	WebhookConcurrency int `yaml:"webhook_concurrency"`
	// WebhookAllowNetworks are IP networks (CIDR, or one address) that
	// webhooks may reach although they are loopback, private, link-local
	// or otherwise local, which are refused by default (SSRF). A target in
	// one of them may also use http://. For development and tests only,
	// e.g. ["127.0.0.1/32"].
	WebhookAllowNetworks []string `yaml:"webhook_allow_networks,omitempty"`
	// PublicURL is the hub's URL as webhook receivers reach it (for
	// callback_url and jwks_url), e.g. "https://hub.example"; empty: the
	// scheme and Host of the request that created the subscription.
	PublicURL string `yaml:"public_url"`
}

// On reports whether the subscription APIs are served.
func (d DurableSubscriptions) On() bool { return d.Enabled == nil || *d.Enabled }

// Resolved returns d with the defaults applied.
func (d DurableSubscriptions) Resolved() DurableSubscriptions {
	if d.MaxSubscriptions == 0 {
		d.MaxSubscriptions = DefaultDurableSubscriptions
	}
	if d.MaxStreams == 0 {
		d.MaxStreams = DefaultDurableSubscriptionStreams
	}
	if d.WebhookTimeout == 0 {
		d.WebhookTimeout = Duration(DefaultDurableWebhookTimeout)
	}
	if d.WebhookConcurrency == 0 {
		d.WebhookConcurrency = DefaultDurableWebhookConcurrency
	}
	return d
}

// AllowedNetworks parses WebhookAllowNetworks (validated at load).
func (d DurableSubscriptions) AllowedNetworks() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range d.WebhookAllowNetworks {
		if p, err := parseNetwork(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// metadataAddrs are the cloud providers' instance metadata services
// (AWS, GCP, Azure and OpenStack at 169.254.169.254; AWS over IPv6; ECS
// task metadata; Alibaba Cloud): what an SSRF goes for first.
var metadataAddrs = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("169.254.170.2"), netip.MustParseAddr("100.100.100.200")}

// minAllowedBits is the widest network webhook_allow_networks takes: a
// careless 0.0.0.0/0 or ::/0 would switch the SSRF guard off.
const minAllowedBits = 8

// checkAllowedNetwork refuses a webhook_allow_networks entry that would
// undo the SSRF guard wholesale: wider than /8, IPv4-mapped (write the
// IPv4 network), or holding a cloud metadata address without being just
// that address.
func checkAllowedNetwork(p netip.Prefix) error {
	if p.Bits() < minAllowedBits {
		return fmt.Errorf("%s is wider than /%d: list the local networks webhooks may reach, not everything", p, minAllowedBits)
	}
	if p.Addr().Is4In6() {
		return fmt.Errorf("%s is an IPv4-mapped IPv6 network: write the IPv4 network instead", p)
	}
	for _, m := range metadataAddrs {
		if p.Contains(m) && p.Bits() != m.BitLen() {
			return fmt.Errorf("%s holds the cloud metadata address %s: list %s itself if webhooks must reach it", p, m, m)
		}
	}
	return nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want a CIDR like 127.0.0.1/32 or an address: %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (d DurableSubscriptions) validate() []error {
	var errs []error
	for k, v := range map[string]int64{"max_subscriptions": int64(d.MaxSubscriptions), "max_streams": int64(d.MaxStreams),
		"webhook_timeout": int64(d.WebhookTimeout), "webhook_concurrency": int64(d.WebhookConcurrency)} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("config: durable_streams.subscriptions.%s: must not be negative", k))
		}
	}
	for _, s := range d.WebhookAllowNetworks {
		p, err := parseNetwork(s)
		if err == nil {
			err = checkAllowedNetwork(p)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("config: durable_streams.subscriptions.webhook_allow_networks: %w", err))
		}
	}
	if d.PublicURL != "" {
		if u, err := url.Parse(d.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("config: durable_streams.subscriptions.public_url: want an http:// or https:// URL without query, got %q", d.PublicURL))
		}
	}
	return errs
}
