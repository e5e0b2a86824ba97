//! Which network addresses a tenant-supplied URL may reach.
//!
//! A tenant names URLs atiende calls on its behalf: its Chatwoot or Rocket.Chat, its alert
//! webhook, its CRM. Pointed at a private, loopback or link-local address, such a URL would make
//! atiende call into its own network — the cloud's metadata server at `169.254.169.254`, a
//! neighbour service, the admin port — on anyone's say-so (server-side request forgery). Only
//! public addresses are reachable unless the deployment says otherwise (tests, a desk on the
//! same private network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT (100.64.0.0/10) and benchmarking (198.18.0.0/15).
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80)
}

/// Why `url` may not be called on a tenant's behalf, when its host is a literal address that is
/// not public or a name that only means this machine or its cloud (`localhost`,
/// `metadata.google.internal`). Other names are checked when they resolve.
pub fn private_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return (!is_public(ip)).then(|| format!("{ip} is not a public address"));
    }
    let local = host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".internal")
        || host.ends_with(".local");
    local.then(|| format!("{host} is not a public host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_hosts_are_refused() {
        for url in [
            "http://169.254.169.254/computeMetadata/v1/",
            "http://127.0.0.1:8080/admin",
            "https://10.0.0.5",
            "http://[::1]:9000/x",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://localhost:3000",
            "http://metadata.google.internal/",
            "http://user@100.64.0.1/",
            "http://0.0.0.0/",
        ] {
            assert!(private_host(url).is_some(), "{url}");
        }
        for url in [
            "https://chat.example.com/api",
            "https://hooks.slack.com/services/T/B/x",
            "http://8.8.8.8:80/",
            "http://[2001:4860:4860::8888]/",
        ] {
            assert_eq!(private_host(url), None, "{url}");
        }
    }
}
