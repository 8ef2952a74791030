//! Fixed addresses of the test plant (data inside the captures only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// PLC 1 (S7-1500), 10.10.1.10.
pub const PLC1: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 1, 10));
/// PLC 2, 10.10.1.11.
pub const PLC2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 1, 11));
/// PLC 3, 10.10.1.12 (the inventory cases' S7-300).
pub const PLC3: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 1, 12));
/// PLC 4, 10.10.1.13 (the inventory cases' S7-1200).
pub const PLC4: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 1, 13));
/// HMI 1, 10.10.2.20.
pub const HMI: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 2, 20));
/// HMI 2, 10.10.2.21.
pub const HMI2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 2, 21));
/// HMI 3, 10.10.2.22.
pub const HMI3: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 2, 22));
/// Engineering station, 10.10.3.30.
pub const ES: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 3, 30));
/// Attacker, 10.10.9.99.
pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 10, 9, 99));
/// PLC 1 over IPv6, fd00:10:10:1::10.
pub const PLC1_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, 0x10, 0x1, 0, 0, 0, 0x10));
/// HMI 1 over IPv6, fd00:10:10:2::20.
pub const HMI_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, 0x10, 0x2, 0, 0, 0, 0x20));

/// Attacker over IPv6, fd00:10:10:9::99.
pub const ATTACKER_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, 0x10, 0x9, 0, 0, 0, 0x99));

/// S7 port (ISO-on-TCP).
pub const S7_PORT: u16 = 102;

/// Order number of the simulated CPU (SZL 0x0011).
pub const ORDER_NO: &str = "6ES7 516-3AN01-0AB0";
/// Firmware version of the simulated CPU.
pub const FIRMWARE: (u8, u8, u8) = (2, 9, 4);

/// A spoofed source address from 198.18.0.0/15 (RFC 2544 benchmarking range) for floods.
pub fn spoofed(r: u32) -> IpAddr {
    let v = 0xC612_0000u32 | (r & 0x0001_FFFF);
    IpAddr::V4(Ipv4Addr::from(v))
}
