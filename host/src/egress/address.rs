//! Which addresses a public origin may resolve to: the IANA IPv4 and IPv6
//! Special-Purpose Address Registries (RFC 6890 and its updates) as data.
//!
//! An address is refused when it lies in a block the registries mark as not
//! globally reachable, in multicast, in deprecated blocks that still route
//! somewhere local (IPv6 site-local, IPv4-compatible), or, for IPv6,
//! outside global unicast (`2000::/3`). IPv6 forms that carry an IPv4
//! address (mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//! are judged by the IPv4 address they carry, so `64:ff9b::a00:1` is as
//! private as `10.0.0.1` while a NAT64 network still reaches public APIs.

use ipnet::{Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused: the registry entry it falls in.
pub type AddressClass = &'static str;

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(segments: [u16; 8], len: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), len)
}

/// IPv4 blocks a public origin must not resolve to. Globally reachable
/// entries of the registry (AS112, AMT, the PCP and TURN anycasts) are
/// absent: they are public.
const FORBIDDEN_V4: &[(Ipv4Net, AddressClass)] = &[
    (v4(0, 0, 0, 0, 8), "\"this network\" (0.0.0.0/8)"),
    (v4(10, 0, 0, 0, 8), "private (10.0.0.0/8)"),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT (100.64.0.0/10)"),
    (v4(127, 0, 0, 0, 8), "loopback (127.0.0.0/8)"),
    (
        v4(169, 254, 0, 0, 16),
        "link-local or metadata (169.254.0.0/16)",
    ),
    (v4(172, 16, 0, 0, 12), "private (172.16.0.0/12)"),
    (
        v4(192, 0, 0, 0, 24),
        "IETF protocol assignments (192.0.0.0/24)",
    ),
    (v4(192, 0, 2, 0, 24), "documentation (192.0.2.0/24)"),
    (
        v4(192, 88, 99, 0, 24),
        "6to4 relay anycast (192.88.99.0/24)",
    ),
    (v4(192, 168, 0, 0, 16), "private (192.168.0.0/16)"),
    (v4(198, 18, 0, 0, 15), "benchmarking (198.18.0.0/15)"),
    (v4(198, 51, 100, 0, 24), "documentation (198.51.100.0/24)"),
    (v4(203, 0, 113, 0, 24), "documentation (203.0.113.0/24)"),
    (v4(224, 0, 0, 0, 4), "multicast (224.0.0.0/4)"),
    (v4(255, 255, 255, 255, 32), "limited broadcast"),
    (v4(240, 0, 0, 0, 4), "reserved (240.0.0.0/4)"),
];

/// IPv6 blocks refused outright. Blocks outside `2000::/3` are refused by
/// [`forbidden_address_class`] anyway; they are named here so the refusal says why.
const FORBIDDEN_V6: &[(Ipv6Net, AddressClass)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified (::)"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback (::1)"),
    (
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible, deprecated (::/96)",
    ),
    (
        v6([0, 0, 0, 0, 0xffff, 0, 0, 0], 96),
        "IPv4-translated (::ffff:0:0:0/96)",
    ),
    (
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64 (64:ff9b:1::/48)",
    ),
    (
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "discard-only (100::/64)",
    ),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32), "Teredo (2001::/32)"),
    (
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "benchmarking (2001:2::/48)",
    ),
    (
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments (2001::/23)",
    ),
    (
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation (2001:db8::/32)",
    ),
    (
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "documentation (3fff::/20)",
    ),
    (
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "SRv6 SIDs (5f00::/16)",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique-local (fc00::/7)",
    ),
    (
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "link-local (fe80::/10)",
    ),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local, deprecated (fec0::/10)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast (ff00::/8)"),
];

/// Global unicast: the only IPv6 space a public origin may resolve to.
const GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// IPv6 forms that carry an IPv4 address, and where it sits.
enum Carrier {
    /// `::ffff:a.b.c.d` (RFC 4291).
    Mapped,
    /// `64:ff9b::a.b.c.d`, the NAT64 well-known prefix (RFC 6052).
    Nat64,
    /// `2002:aabb:ccdd::/48`, 6to4 (RFC 3056).
    SixToFour,
}

impl Carrier {
    const PREFIXES: [(Ipv6Net, Carrier); 3] = [
        (v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), Carrier::Mapped),
        (v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), Carrier::Nat64),
        (v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), Carrier::SixToFour),
    ];

    /// The IPv4 address an IPv6 address carries, if it is of such a form.
    fn embedded(address: Ipv6Addr) -> Option<Ipv4Addr> {
        let (_, carrier) = Carrier::PREFIXES
            .iter()
            .find(|(prefix, _)| prefix.contains(&address))?;
        let octets = address.octets();
        let at = match carrier {
            Carrier::Mapped | Carrier::Nat64 => 12,
            Carrier::SixToFour => 2,
        };
        Some(Ipv4Addr::new(
            octets[at],
            octets[at + 1],
            octets[at + 2],
            octets[at + 3],
        ))
    }
}

/// The class of address a public origin must never resolve to, if any.
pub fn forbidden_address_class(address: IpAddr) -> Option<AddressClass> {
    match address {
        IpAddr::V4(address) => forbidden_v4(address),
        IpAddr::V6(address) => forbidden_v6(address),
    }
}

fn forbidden_v4(address: Ipv4Addr) -> Option<AddressClass> {
    FORBIDDEN_V4
        .iter()
        .find(|(block, _)| block.contains(&address))
        .map(|(_, class)| *class)
}

fn forbidden_v6(address: Ipv6Addr) -> Option<AddressClass> {
    if let Some(carried) = Carrier::embedded(address) {
        return forbidden_v4(carried);
    }
    if let Some((_, class)) = FORBIDDEN_V6
        .iter()
        .find(|(block, _)| block.contains(&address))
    {
        return Some(class);
    }
    (!GLOBAL_UNICAST.contains(&address)).then_some("reserved (outside global unicast 2000::/3)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(text: &str) -> Option<AddressClass> {
        forbidden_address_class(text.parse().unwrap())
    }

    /// Each block's first address is refused for that block, its last is
    /// refused, and the addresses just outside an IPv4 block are not in it.
    #[test]
    fn every_registry_block_is_refused_and_its_neighbours_are_not() {
        for (block, expected) in FORBIDDEN_V4 {
            assert_eq!(forbidden_v4(block.network()), Some(*expected), "{block}");
            assert!(forbidden_v4(block.broadcast()).is_some(), "{block}");
            for neighbour in [
                u32::from(block.network()).checked_sub(1),
                u32::from(block.broadcast()).checked_add(1),
            ]
            .into_iter()
            .flatten()
            .map(Ipv4Addr::from)
            {
                if let Some(other) = forbidden_v4(neighbour) {
                    assert_ne!(other, *expected, "{neighbour} is in another block");
                }
            }
        }
        for (block, _) in FORBIDDEN_V6 {
            assert!(forbidden_v6(block.network()).is_some(), "{block}");
            assert!(forbidden_v6(block.broadcast()).is_some(), "{block}");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_a_private_ipv4_are_refused() {
        for (text, expected) in [
            ("::127.0.0.1", "IPv4-compatible, deprecated (::/96)"),
            ("::ffff:127.0.0.1", "loopback (127.0.0.0/8)"),
            ("::ffff:10.0.0.1", "private (10.0.0.0/8)"),
            (
                "::ffff:169.254.169.254",
                "link-local or metadata (169.254.0.0/16)",
            ),
            ("64:ff9b::127.0.0.1", "loopback (127.0.0.0/8)"),
            (
                "64:ff9b::a9fe:a9fe",
                "link-local or metadata (169.254.0.0/16)",
            ),
            ("64:ff9b:1::a00:1", "local-use NAT64 (64:ff9b:1::/48)"),
            ("2002:7f00:1::1", "loopback (127.0.0.0/8)"),
            ("2002:c0a8:101::1", "private (192.168.0.0/16)"),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo (2001::/32)"),
            ("::ffff:0:7f00:1", "IPv4-translated (::ffff:0:0:0/96)"),
        ] {
            assert_eq!(class(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn special_purpose_addresses_are_refused() {
        for (text, expected) in [
            ("0.1.2.3", "\"this network\" (0.0.0.0/8)"),
            ("127.0.0.1", "loopback (127.0.0.0/8)"),
            ("192.0.2.7", "documentation (192.0.2.0/24)"),
            ("198.19.0.1", "benchmarking (198.18.0.0/15)"),
            ("224.0.0.251", "multicast (224.0.0.0/4)"),
            ("255.255.255.255", "limited broadcast"),
            ("::1", "loopback (::1)"),
            ("::", "unspecified (::)"),
            ("fec0::1", "site-local, deprecated (fec0::/10)"),
            ("fd00::1", "unique-local (fc00::/7)"),
            ("fe80::1", "link-local (fe80::/10)"),
            ("ff02::1", "multicast (ff00::/8)"),
            ("2001:db8::1", "documentation (2001:db8::/32)"),
            ("2001:2::1", "benchmarking (2001:2::/48)"),
            ("100::1", "discard-only (100::/64)"),
            ("4000::1", "reserved (outside global unicast 2000::/3)"),
        ] {
            assert_eq!(class(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn public_addresses_pass_also_through_nat64_and_6to4() {
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "192.31.196.1",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:93.184.216.34",
            "64:ff9b::93.184.216.34",
            "2002:5db8:d822::1",
        ] {
            assert_eq!(class(text), None, "{text}");
        }
    }
}
