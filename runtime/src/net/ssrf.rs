//! The SSRF guard: connectors may not reach loopback, private, link-local,
//! unique-local, CGNAT, multicast or cloud-metadata addresses unless the
//! operator allowed the range. Names are resolved here, in the host, and the
//! request is pinned to the checked addresses so a second lookup cannot
//! rebind it.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is refused, for messages.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_reason(v4).map(|_| "an IPv4-mapped IPv6 address of a refused range");
            }
            v6_reason(v6)
        }
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if o[0] == 169 && o[1] == 254 {
        // 169.254.169.254 is the cloud metadata service on every major cloud.
        Some("link-local (cloud metadata)")
    } else if ip.is_private() {
        Some("private")
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        Some("carrier-grade NAT")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() || o[0] >= 240 {
        Some("multicast, broadcast or reserved")
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        Some("IETF protocol assignments")
    } else if (o[0] == 198 && (o[1] & 0xfe) == 18)
        || (o[0] == 192 && o[1] == 0 && o[2] == 2)
        || (o[0] == 198 && o[1] == 51 && o[2] == 100)
        || (o[0] == 203 && o[1] == 0 && o[2] == 113)
    {
        Some("benchmarking or documentation")
    } else {
        None
    }
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        // fd00:ec2::254 (AWS IMDS over IPv6) is in here too.
        Some("unique-local")
    } else if (s[0] & 0xff00) == 0xff00 {
        Some("multicast")
    } else if s[0] == 0x64 && s[1] == 0xff9b {
        Some("NAT64 (may reach private IPv4)")
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        Some("documentation")
    } else if ip.to_ipv4().is_some() && s[0..6] == [0, 0, 0, 0, 0, 0] {
        Some("IPv4-compatible IPv6")
    } else {
        None
    }
}

/// Whether the operator allowed `ip` explicitly.
pub fn operator_allows(ip: IpAddr, allowed: &[IpNet]) -> bool {
    let mapped = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    allowed
        .iter()
        .any(|net| net.contains(&ip) || mapped.is_some_and(|m| net.contains(&m)))
}

/// Checks every resolved address; one refused address refuses the name, so a
/// DNS answer mixing public and private addresses cannot slip through.
pub fn check_addresses(host: &str, addrs: &[SocketAddr], allowed: &[IpNet]) -> Result<(), String> {
    if addrs.is_empty() {
        return Err(format!("`{host}` did not resolve to any address"));
    }
    for addr in addrs {
        let ip = addr.ip();
        if let Some(reason) = forbidden_reason(ip)
            && !operator_allows(ip, allowed)
        {
            return Err(format!(
                "`{host}` resolves to {ip}, a {reason} address; the operator has not allowed it"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_internal_range() {
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(
                forbidden_reason(ip(bad)).is_some(),
                "{bad} should be refused"
            );
        }
        for good in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(forbidden_reason(ip(good)).is_none(), "{good} should pass");
        }
    }

    #[test]
    fn operator_ranges_open_exactly_what_they_name() {
        let loopback: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let a = |s: &str| SocketAddr::new(ip(s), 443);
        assert!(check_addresses("x", &[a("127.0.0.1")], &loopback).is_ok());
        assert!(check_addresses("x", &[a("::ffff:127.0.0.1")], &loopback).is_ok());
        let err = check_addresses("x", &[a("127.0.0.1"), a("10.0.0.1")], &loopback).unwrap_err();
        assert!(err.contains("10.0.0.1") && err.contains("private"), "{err}");
        let err = check_addresses("meta", &[a("169.254.169.254")], &[]).unwrap_err();
        assert!(err.contains("cloud metadata"), "{err}");
        assert!(check_addresses("x", &[], &[]).is_err());
    }
}
