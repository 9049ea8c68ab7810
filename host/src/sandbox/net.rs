//! Which network addresses a component's requests may reach once a name is
//! resolved. Allowlists name hosts; this stops a name (or a DNS answer an
//! attacker controls) that resolves to loopback, a private network or a
//! link-local address such as the cloud metadata service.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What the operator lets resolved addresses be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// 127.0.0.0/8 and ::1 (tests and local fakes opt in).
    pub allow_loopback: bool,
    /// RFC 1918, CGNAT, unique-local and link-local ranges.
    pub allow_private: bool,
}

/// The class of an address, for the policy and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Loopback,
    Private,
    LinkLocal,
    /// Unspecified, multicast, broadcast, documentation, reserved: never.
    Unroutable,
}

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped and -compatible addresses are their IPv4 selves.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let o = ip.octets();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() || (o[0] == 100 && (64..128).contains(&o[1])) {
        AddressClass::Private
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        || o[0] >= 240
    {
        AddressClass::Unroutable
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if ip.is_loopback() {
        AddressClass::Loopback
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        AddressClass::Private
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else if ip.is_unspecified() || ip.is_multicast() || seg[0] == 0x2001 && seg[1] == 0x0db8 {
        AddressClass::Unroutable
    } else if seg[0] == 0 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0 && seg[4] == 0 {
        // IPv4-compatible (::a.b.c.d) and other reserved low addresses.
        let v4 = Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        );
        match classify_v4(v4) {
            AddressClass::Public => AddressClass::Unroutable,
            other => other,
        }
    } else {
        AddressClass::Public
    }
}

impl AddressPolicy {
    pub fn permits(&self, ip: IpAddr) -> Result<(), AddressClass> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Loopback if self.allow_loopback => Ok(()),
            AddressClass::Private | AddressClass::LinkLocal if self.allow_private => Ok(()),
            other => Err(other),
        }
    }

    /// Keeps the addresses the policy permits. If a name resolves to any
    /// refused address, all are refused: a DNS answer mixing public and
    /// internal addresses is a rebinding attempt, not a fallback.
    pub fn filter(
        &self,
        addrs: &[SocketAddr],
    ) -> Result<Vec<SocketAddr>, (SocketAddr, AddressClass)> {
        for a in addrs {
            if let Err(class) = self.permits(a.ip()) {
                return Err((*a, class));
            }
        }
        Ok(addrs.to_vec())
    }
}

impl std::fmt::Display for AddressClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressClass::Public => "a public address",
            AddressClass::Loopback => "a loopback address (sandbox.allow_loopback is off)",
            AddressClass::Private => {
                "a private-network address (sandbox.allow_private_networks is off)"
            }
            AddressClass::LinkLocal => {
                "a link-local address (sandbox.allow_private_networks is off)"
            }
            AddressClass::Unroutable => "an unroutable address",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn classifies_the_dangerous_ranges() {
        assert_eq!(class("127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("127.255.0.9"), AddressClass::Loopback);
        assert_eq!(class("::1"), AddressClass::Loopback);
        assert_eq!(class("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("10.1.2.3"), AddressClass::Private);
        assert_eq!(class("172.16.0.1"), AddressClass::Private);
        assert_eq!(class("192.168.1.1"), AddressClass::Private);
        assert_eq!(class("100.64.0.1"), AddressClass::Private);
        assert_eq!(class("fd00::1"), AddressClass::Private);
        assert_eq!(class("169.254.169.254"), AddressClass::LinkLocal);
        assert_eq!(class("fe80::1"), AddressClass::LinkLocal);
        assert_eq!(class("0.0.0.0"), AddressClass::Unroutable);
        assert_eq!(class("::"), AddressClass::Unroutable);
        assert_eq!(class("224.0.0.1"), AddressClass::Unroutable);
        assert_eq!(class("::127.0.0.1"), AddressClass::Loopback);
        assert_eq!(class("162.125.4.1"), AddressClass::Public);
        assert_eq!(class("2620:100:6000::1"), AddressClass::Public);
    }

    #[test]
    fn loopback_needs_an_explicit_opt_in() {
        let closed = AddressPolicy::default();
        assert!(closed.permits("127.0.0.1".parse().unwrap()).is_err());
        let tests = AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        };
        assert!(tests.permits("127.0.0.1".parse().unwrap()).is_ok());
        assert!(tests.permits("10.0.0.1".parse().unwrap()).is_err());
        assert!(tests.permits("169.254.169.254".parse().unwrap()).is_err());
    }

    #[test]
    fn a_mixed_dns_answer_is_refused_whole() {
        let p = AddressPolicy::default();
        let addrs: Vec<SocketAddr> = vec![
            "162.125.4.1:443".parse().unwrap(),
            "127.0.0.1:443".parse().unwrap(),
        ];
        assert!(p.filter(&addrs).is_err());
    }
}
