//! Multipart part sizes. S3 allows 10,000 parts of 5 MiB to 5 GiB each, so
//! a fixed part size caps the object (8 MiB parts stop near 80 GiB). Parts
//! here start small, to keep memory low for common dumps, and double every
//! thousand parts, so 10,000 parts hold more than 5 TB.

/// The most parts one upload may have.
pub const MAX_PARTS: u32 = 10_000;
/// Size of the first thousand parts.
pub const FIRST_PART_SIZE: usize = 6 * 1024 * 1024;
/// Parts of one size before it doubles.
const PARTS_PER_STEP: u32 = 1_000;
/// S3's limits on the size of a part (all but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
pub const MAX_PART_SIZE: usize = 5 * 1024 * 1024 * 1024;

/// The size of part `number` (1-based, as S3 counts them).
pub fn part_size(number: u32) -> usize {
    let step = (number.saturating_sub(1) / PARTS_PER_STEP).min(9);
    FIRST_PART_SIZE << step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_thousand_parts_hold_more_than_five_terabytes() {
        let total: u64 = (1..=MAX_PARTS).map(|n| part_size(n) as u64).sum();
        assert!(total >= 5_000_000_000_000, "{total}");
        assert!(total >= 5 * (1u64 << 40), "{total} is under 5 TiB");
    }

    #[test]
    fn every_part_is_within_s3_limits_and_sizes_never_shrink() {
        let mut previous = 0;
        for n in 1..=MAX_PARTS {
            let size = part_size(n);
            assert!(
                (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size),
                "part {n}: {size}"
            );
            assert!(size >= previous);
            previous = size;
        }
        assert_eq!(part_size(1), FIRST_PART_SIZE);
        assert_eq!(part_size(1000), FIRST_PART_SIZE);
        assert_eq!(part_size(1001), 2 * FIRST_PART_SIZE);
    }
}
