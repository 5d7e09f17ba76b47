//! Task, context, message and artifact ids: random UUIDs (version 4) as lowercase strings.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh UUID v4, e.g. `9b6934dd-37e3-4eb1-8766-962efaab63a1`.
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No OS randomness: fall back to a counter mixed with the clock. The ids stay unique
        // within the process, which is all they are used for.
        b = fallback_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn fallback_bytes() -> [u8; 16] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = crate::clock::now_ms() as u64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&splitmix(t ^ n.rotate_left(32)).to_le_bytes());
    out[8..].copy_from_slice(&splitmix(n.wrapping_add(t)).to_le_bytes());
    out
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let a = uuid_v4();
        assert_eq!(a.len(), 36);
        let groups: Vec<&str> = a.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('4'));
        assert!(matches!(&groups[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(a, uuid_v4());
        assert_ne!(fallback_bytes(), fallback_bytes());
    }
}
