//! The seeded draws every row shares: a row's generator is seeded by `(seed, row)` alone, so that any
//! row can be made again on its own (a repeat booking re-seeds the row its customer first booked).

/// How far back a repeat booking's customer may have booked first, in rows.
pub(super) const REPEAT_REACH: u64 = 100_000;

/// splitmix64's finaliser: a bijection of `u64` that scatters nearby inputs.
pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of item `i` of the stream `salt` under `seed`; distinct `i`, distinct seeds.
pub(super) fn mix(seed: u64, salt: u64, i: u64) -> u64 {
    splitmix64(splitmix64(seed ^ salt).wrapping_add(i))
}

pub(super) const ROW_SALT: u64 = 0;
pub(super) const CUSTOMER_SALT: u64 = 0x6375_7374_6f6d_6572; // "customer"

/// For a repeat booking (15% of rows after the first), the earlier row whose customer books row `i`.
pub(super) fn earlier(rng: &mut fastrand::Rng, i: u64) -> Option<u64> {
    (i > 0 && rng.u32(0..100) < 15).then(|| i - rng.u64(1..=i.min(REPEAT_REACH)))
}

/// The customer of row `j`: the row they first booked, found by going back along repeat bookings
/// (a few rows at most: each step back is a 15% chance).
pub(super) fn customer_key(seed: u64, mut j: u64) -> u64 {
    loop {
        let mut rng = fastrand::Rng::with_seed(mix(seed, ROW_SALT, j));
        match earlier(&mut rng, j) {
            Some(k) => j = k,
            None => return j,
        }
    }
}

/// One of `items`, with the odds of its weight.
pub(super) fn weighted<T: Copy>(rng: &mut fastrand::Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.u32(0..total.max(1));
    for &(item, w) in items {
        if r < w {
            return item;
        }
        r -= w;
    }
    items[0].0
}

/// The smaller of two uniform draws from `range`: nearer values more likely, as lead times are.
pub(super) fn sooner(rng: &mut fastrand::Rng, range: std::ops::RangeInclusive<u64>) -> u64 {
    rng.u64(range.clone()).min(rng.u64(range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_row_seeds_of_neighbouring_rows_and_seeds_differ() {
        let seeds: std::collections::HashSet<u64> = (0..3)
            .flat_map(|s| (0..1000).map(move |i| mix(s, ROW_SALT, i)))
            .collect();
        assert_eq!(seeds.len(), 3000);
    }
}
