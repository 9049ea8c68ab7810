//! Outbound HTTP policy: which origins a component may reach.
//!
//! Parsed into typed values with no wasmtime dependency, so the rules can be
//! read and tested on their own. An entry is `scheme://host[:port]`; a host of
//! `*.example.com` matches subdomains only. A request is allowed only if its
//! real URI (never a guest-supplied `Host` header) matches an entry.

use std::fmt;

/// The port a scheme uses when a URL or entry names none.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Why an allowlist entry was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid allowlist entry `{entry}`: {reason}")]
pub struct PolicyError {
    pub entry: String,
    pub reason: String,
}

/// How an entry matches host names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this (lower-case) host name or IP literal.
    Exact(String),
    /// Any host ending in `.<suffix>`; never the apex, never an IP literal.
    Subdomains(String),
}

/// One allowlist entry: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    scheme: String,
    host: HostPattern,
    port: u16,
}

impl AllowedOrigin {
    /// Parses `scheme://host[:port]`. Paths, queries, userinfo and unknown
    /// schemes are errors that name the entry.
    pub fn parse(entry: &str) -> Result<Self, PolicyError> {
        let fail = |reason: &str| PolicyError {
            entry: entry.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = entry.split_once("://").ok_or_else(|| {
            fail("expected scheme://host[:port], e.g. https://api.dropboxapi.com")
        })?;
        let scheme = scheme.to_ascii_lowercase();
        let default = default_port(&scheme).ok_or_else(|| fail("scheme must be http or https"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(fail("entries name an origin only: remove the path"));
        }
        if rest.contains('@') {
            return Err(fail("entries must not contain userinfo (`user@`)"));
        }
        let (host, port) =
            split_host_port(rest).ok_or_else(|| fail("the port is not a number in 1..=65535"))?;
        let port = port.unwrap_or(default);
        let host = host.to_ascii_lowercase();
        if host.is_empty() {
            return Err(fail("the host is empty"));
        }
        let host = if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') || parse_ip(suffix).is_some() {
                return Err(fail("a wildcard must be `*.` followed by a domain name"));
            }
            HostPattern::Subdomains(suffix.to_string())
        } else if host.contains('*') {
            return Err(fail("`*` is only allowed as a leading `*.`"));
        } else {
            if !valid_host(&host) {
                return Err(fail("the host has characters a host name cannot have"));
            }
            HostPattern::Exact(host)
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether a request to `scheme://host:port` matches this entry. `host`
    /// must already be the URI's authority host (lower-cased by the caller).
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || self.port != port {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match &self.host {
            HostPattern::Exact(h) => *h == host,
            HostPattern::Subdomains(suffix) => {
                parse_ip(&host).is_none()
                    && host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// Whether this entry is covered by `other` (used to intersect the
    /// component's declared origins with the operator's allowlist).
    pub fn within(&self, other: &AllowedOrigin) -> bool {
        match &self.host {
            HostPattern::Exact(h) => other.allows(&self.scheme, h, self.port),
            HostPattern::Subdomains(s) => {
                self.scheme == other.scheme
                    && self.port == other.port
                    && match &other.host {
                        HostPattern::Subdomains(o) => {
                            s == o || (s.len() > o.len() && s.ends_with(&format!(".{o}")))
                        }
                        HostPattern::Exact(_) => false,
                    }
            }
        }
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match &self.host {
            HostPattern::Exact(h) if h.contains(':') => format!("[{h}]"),
            HostPattern::Exact(h) => h.clone(),
            HostPattern::Subdomains(s) => format!("*.{s}"),
        };
        write!(f, "{}://{host}", self.scheme)?;
        if Some(self.port) != default_port(&self.scheme) {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// A parsed request target, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Reads scheme, host and port from a request URI. Anything odd (no
    /// authority, userinfo, unknown scheme) is `None`, and so denied.
    pub fn from_uri(uri: &http::Uri) -> Option<Self> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        if authority.as_str().contains('@') {
            return None;
        }
        let port = match authority.port_u16() {
            Some(p) => p,
            None => default_port(&scheme)?,
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.to_ascii_lowercase();
        if host.is_empty() || !valid_host(&host) {
            return None;
        }
        Some(Self { scheme, host, port })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{host}:{}", self.scheme, self.port)
    }
}

/// A set of allowed origins.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    entries: Vec<AllowedOrigin>,
}

impl Allowlist {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, PolicyError> {
        let entries = entries
            .iter()
            .map(|e| AllowedOrigin::parse(e.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    pub fn allows(&self, target: &Target) -> bool {
        self.entries
            .iter()
            .any(|e| e.allows(&target.scheme, &target.host, target.port))
    }

    /// The declared origins that the operator's allowlist also covers.
    pub fn intersect(&self, operator: &Allowlist) -> Allowlist {
        let entries = self
            .entries
            .iter()
            .filter(|d| operator.entries.iter().any(|o| d.within(o)))
            .cloned()
            .collect();
        Allowlist { entries }
    }

    pub fn entries(&self) -> &[AllowedOrigin] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(p) => Some((host, Some(parse_port(p)?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, p)) if !host.contains(':') => Some((host, Some(parse_port(p)?))),
        Some(_) => None,
        None => Some((s, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|p| *p != 0)
}

fn parse_ip(host: &str) -> Option<std::net::IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Host names are letters, digits, `-` and `.`; IP literals also parse.
fn valid_host(host: &str) -> bool {
    parse_ip(host).is_some()
        || (!host.starts_with('.')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
}

/// A URL for logs: scheme, authority and path, the query replaced.
pub fn redact_url(uri: &http::Uri) -> String {
    let mut out = String::new();
    if let Some(s) = uri.scheme_str() {
        out.push_str(s);
        out.push_str("://");
    }
    if let Some(a) = uri.authority() {
        // Userinfo could carry a password: keep host and port only.
        out.push_str(a.as_str().rsplit('@').next().unwrap_or(""));
    }
    out.push_str(uri.path());
    if uri.query().is_some() {
        out.push_str("?[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(uri: &str) -> Option<Target> {
        Target::from_uri(&uri.parse().ok()?)
    }

    fn allows(entry: &str, uri: &str) -> bool {
        let e = AllowedOrigin::parse(entry).expect("entry parses");
        t(uri).is_some_and(|t| e.allows(&t.scheme, &t.host, t.port))
    }

    #[test]
    fn exact_origin_matches_default_port() {
        assert!(allows(
            "https://api.dropboxapi.com",
            "https://api.dropboxapi.com/2/x"
        ));
        assert!(allows(
            "https://api.dropboxapi.com",
            "https://API.DropboxAPI.com:443/2/x"
        ));
        assert!(allows(
            "https://api.dropboxapi.com:443",
            "https://api.dropboxapi.com/"
        ));
    }

    #[test]
    fn scheme_and_port_must_match() {
        assert!(!allows(
            "https://api.dropboxapi.com",
            "http://api.dropboxapi.com/2/x"
        ));
        assert!(!allows(
            "https://api.dropboxapi.com",
            "https://api.dropboxapi.com:8443/"
        ));
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1:8081/x"));
    }

    #[test]
    fn other_hosts_are_denied() {
        assert!(!allows("https://api.dropboxapi.com", "https://evil.com/"));
        assert!(!allows(
            "https://api.dropboxapi.com",
            "https://api.dropboxapi.com.evil.com/"
        ));
        assert!(!allows(
            "https://api.dropboxapi.com",
            "https://evil.com/api.dropboxapi.com"
        ));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        assert!(allows("https://*.example.com", "https://a.example.com/"));
        assert!(allows("https://*.example.com", "https://a.b.example.com/"));
        assert!(!allows("https://*.example.com", "https://example.com/"));
        assert!(!allows("https://*.example.com", "https://badexample.com/"));
    }

    #[test]
    fn wildcard_never_matches_ip_literals() {
        assert!(!allows("https://*.0.0.1", "https://127.0.0.1/"));
    }

    #[test]
    fn userinfo_in_request_is_denied() {
        assert!(t("https://api.dropboxapi.com@evil.com/").is_none());
    }

    #[test]
    fn rejects_path_in_entry() {
        let e = AllowedOrigin::parse("https://api.dropboxapi.com/2").unwrap_err();
        assert!(e.to_string().contains("https://api.dropboxapi.com/2"));
        assert!(e.reason.contains("path"));
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "api.dropboxapi.com",
            "ftp://x.com",
            "https://",
            "https://x.com:0",
            "https://x.com:99999",
            "https://x.com:abc",
            "https://user@x.com",
            "https://a*.com",
            "https://*.",
            "https://x.com?q",
        ] {
            assert!(
                AllowedOrigin::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn trailing_slash_is_tolerated() {
        assert!(allows(
            "https://api.dropboxapi.com/",
            "https://api.dropboxapi.com/x"
        ));
    }

    #[test]
    fn ipv6_literals_parse() {
        assert!(allows("http://[::1]:8080", "http://[::1]:8080/x"));
        assert!(!allows("http://[::1]:8080", "http://127.0.0.1:8080/x"));
    }

    #[test]
    fn intersection_keeps_declared_origins_the_operator_allows() {
        let declared = Allowlist::parse(&[
            "https://api.dropboxapi.com",
            "https://content.dropboxapi.com",
        ])
        .unwrap();
        let operator = Allowlist::parse(&["https://api.dropboxapi.com"]).unwrap();
        let both = declared.intersect(&operator);
        assert_eq!(both.entries().len(), 1);
        assert_eq!(both.entries()[0].to_string(), "https://api.dropboxapi.com");
        let wildcard = Allowlist::parse(&["https://*.dropboxapi.com"]).unwrap();
        assert_eq!(declared.intersect(&wildcard).entries().len(), 2);
    }

    #[test]
    fn query_strings_are_redacted_in_logs() {
        let uri: http::Uri = "https://x.com/a?token=secret".parse().unwrap();
        assert_eq!(redact_url(&uri), "https://x.com/a?[redacted]");
    }
}
