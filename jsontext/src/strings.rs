//! Where the plain run of a JSON string ends: the next `"`, `\` or control
//! character, the only bytes a string's content treats specially.
//!
//! Strings are most of the bytes of the API's records (ids, names, links),
//! so this is the scanner's inner loop. It tests sixteen bytes at a time
//! where the target has 128-bit SIMD that a plain build may use: SSE2 on
//! x86-64 (the host), `simd128` on wasm32 (the integration, which
//! `components/build.rs` builds with it). Elsewhere, and for the last bytes
//! of the text, it tests one byte at a time.

/// Whether a string's content treats `byte` specially.
fn special(byte: u8) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20
}

/// The position of the first special byte at or after `at`, or the text's
/// length if there is none.
pub(crate) fn plain_run_end(bytes: &[u8], at: usize) -> usize {
    #[cfg(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ))]
    let at = {
        let mut at = at;
        while let Some(block) = bytes.get(at..at + 16) {
            let mask = specials(block.try_into().expect("a 16-byte slice"));
            if mask != 0 {
                return at + mask.trailing_zeros() as usize;
            }
            at += 16;
        }
        at
    };
    bytes_one_by_one(bytes, at)
}

fn bytes_one_by_one(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|&b| special(b))
        .map_or(bytes.len(), |i| at + i)
}

/// Bit `i` set where `block[i]` is special.
#[cfg(target_arch = "x86_64")]
fn specials(block: &[u8; 16]) -> u32 {
    use core::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86-64, and the unaligned load reads the
    // sixteen bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // `v <= 0x1f` as unsigned bytes: the minimum with 0x1f is `v` itself.
        let control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// Bit `i` set where `block[i]` is special.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn specials(block: &[u8; 16]) -> u32 {
    use core::arch::wasm32::*;
    // SAFETY: `v128_load` has no alignment requirement and reads the
    // sixteen bytes of `block`.
    let v = unsafe { v128_load(block.as_ptr().cast()) };
    let quote = u8x16_eq(v, u8x16_splat(b'"'));
    let backslash = u8x16_eq(v, u8x16_splat(b'\\'));
    let control = u8x16_lt(v, u8x16_splat(0x20));
    u32::from(u8x16_bitmask(v128_or(v128_or(quote, backslash), control)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_special_byte_is_found_wherever_it_lies() {
        for len in 0..40 {
            for special_at in 0..=len {
                for byte in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut text = vec![b'a'; len];
                    if special_at < len {
                        text[special_at] = byte;
                    }
                    for from in 0..=special_at.min(len) {
                        assert_eq!(
                            plain_run_end(&text, from),
                            special_at,
                            "{byte:#x} at {special_at} of {len}, from {from}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bytes_above_the_controls_are_plain() {
        // Including those whose top bit is set, which signed comparisons
        // would take for controls: UTF-8 continuation and lead bytes.
        let text: Vec<u8> = (0x20..=0xffu8)
            .filter(|&b| b != b'"' && b != b'\\')
            .collect();
        assert_eq!(plain_run_end(&text, 0), text.len());
    }
}
