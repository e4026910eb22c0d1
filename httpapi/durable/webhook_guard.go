package durable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// errWebhookURL is wrapped by every refusal of a webhook target.
var errWebhookURL = errors.New("webhook URL rejected")

// webhookGuard keeps webhooks off local networks (protocol section 12.8,
// SSRF): a target must use https://, and no address it resolves to may be
// loopback, private (RFC 1918, RFC 4193), link-local (cloud metadata at
// 169.254.169.254 included), CGNAT, unspecified, multicast or otherwise
// special, unless an operator allowed its network (then http:// may do
// too). The check runs when a subscription is created and again on every
// connection the webhook client dials, on the address actually dialed, so
// a DNS name that resolves elsewhere later (rebinding) is refused too;
// redirects are never followed and no proxy is used.
type webhookGuard struct {
	allow []netip.Prefix
}

// special are the networks refused unless allowed, beside what netip's
// predicates cover.
var special = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // CGNAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, broadcast
		"::/96",           // IPv4-compatible (deprecated; embeds IPv4)
		"::ffff:0:0:0/96", // IPv4-translated (SIIT; embeds IPv4)
		"64:ff9b::/96",    // NAT64 (maps IPv4, private ones included)
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4 (embeds IPv4)
		"2001::/32",       // Teredo
		"fec0::/10",       // site-local (deprecated)
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

func (g *webhookGuard) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// local reports whether a is an address webhooks may not reach by default.
func local(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range special {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// checkAddr refuses a local address that no allowed network covers.
func (g *webhookGuard) checkAddr(a netip.Addr) error {
	if local(a) && !g.allowed(a) {
		return fmt.Errorf("%w: %s is a loopback, private, link-local or other local address (allow its network with durable_streams.subscriptions.webhook_allow_networks)", errWebhookURL, a.Unmap())
	}
	return nil
}

// checkURL validates a webhook URL and resolves its host, refusing it if
// any address is refused.
func (g *webhookGuard) checkURL(ctx context.Context, raw string) error {
	if len(raw) > maxWebhookURL {
		return fmt.Errorf("%w: longer than %d bytes", errWebhookURL, maxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%w: not an absolute http(s) URL", errWebhookURL)
	}
	if u.User != nil {
		return fmt.Errorf("%w: credentials in the URL", errWebhookURL)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%w: a fragment", errWebhookURL)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("%w: the scheme must be https", errWebhookURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", errWebhookURL)
	}
	if p := u.Port(); p != "" {
		if n, err := net.LookupPort("tcp", p); err != nil || n <= 0 {
			return fmt.Errorf("%w: bad port", errWebhookURL)
		}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if a.Zone() != "" {
			return fmt.Errorf("%w: an address with a zone", errWebhookURL)
		}
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return fmt.Errorf("%w: the host %s does not resolve", errWebhookURL, quote(trim(host)))
		}
		addrs = ips
	}
	httpOK := true
	for _, a := range addrs {
		if err := g.checkAddr(a); err != nil {
			return err
		}
		httpOK = httpOK && g.allowed(a)
	}
	if u.Scheme == "http" && !httpOK {
		return fmt.Errorf("%w: the scheme must be https (http:// only to an allowed local network)", errWebhookURL)
	}
	return nil
}

// client returns the HTTP client of webhook deliveries: every dial checked
// (checkAddr on the address dialed), no proxy, no redirect, a timeout.
func (g *webhookGuard) client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: dialing %q", errWebhookURL, address)
		}
		return g.checkAddr(ap.Addr())
	}}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a 3xx is a failed delivery, never followed
	}}
}
