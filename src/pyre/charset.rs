//! Sets of characters as sorted, inclusive ranges, and the case rules of
//! Python's `re` under IGNORECASE (`Lib/re/_compiler.py`): a text character
//! `ch` matches a pattern set when `lower(ch)` is in the set built from the
//! pattern's lowered characters plus their "extra cases". Everything here
//! is computed from `tables`, which come from CPython itself.

use std::sync::OnceLock;

use super::tables;

const MAX: u32 = 0x10FFFF;
const SURROGATES: (u32, u32) = (0xD800, 0xDFFF);

/// A set of Unicode scalar values: sorted, disjoint, non-adjacent ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharSet(Vec<(u32, u32)>);

impl CharSet {
    pub fn from_ranges(ranges: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut v: Vec<(u32, u32)> = ranges.into_iter().filter(|(lo, hi)| lo <= hi).collect();
        v.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => out.push((lo, hi)),
            }
        }
        CharSet(out).without_surrogates()
    }

    pub fn single(c: u32) -> Self {
        CharSet::from_ranges([(c, c)])
    }

    pub fn ranges(&self) -> &[(u32, u32)] {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, c: u32) -> bool {
        self.0
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    pub fn union(&self, other: &CharSet) -> CharSet {
        CharSet::from_ranges(self.0.iter().chain(other.0.iter()).copied())
    }

    /// Every scalar value not in the set.
    pub fn complement(&self) -> CharSet {
        let mut out = Vec::with_capacity(self.0.len() + 1);
        let mut next = 0u32;
        for &(lo, hi) in &self.0 {
            if lo > next {
                out.push((next, lo - 1));
            }
            next = hi + 1;
        }
        if next <= MAX {
            out.push((next, MAX));
        }
        CharSet::from_ranges(out)
    }

    pub fn difference(&self, other: &CharSet) -> CharSet {
        self.complement().union(other).complement()
    }

    fn without_surrogates(self) -> CharSet {
        let (s_lo, s_hi) = SURROGATES;
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for (lo, hi) in self.0 {
            if hi < s_lo || lo > s_hi {
                out.push((lo, hi));
                continue;
            }
            if lo < s_lo {
                out.push((lo, s_lo - 1));
            }
            if hi > s_hi {
                out.push((s_hi + 1, hi));
            }
        }
        CharSet(out)
    }

    /// The number of characters in the set.
    pub fn len(&self) -> u64 {
        self.0.iter().map(|(lo, hi)| u64::from(hi - lo) + 1).sum()
    }
}

/// How IGNORECASE lowers characters: Unicode (`_sre.unicode_tolower` and
/// the extra cases) or, with the ASCII flag, A–Z only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseRules {
    Unicode,
    Ascii,
}

struct Lowering {
    /// (character, its lowercase) for every character lowering changes.
    pairs: Vec<(u32, u32)>,
    changed: CharSet,
    /// Lowercase character → the other lowercase characters sharing its
    /// uppercase (Unicode rules only).
    extra: &'static [(u32, &'static [u32])],
}

fn lowering(rules: CaseRules) -> &'static Lowering {
    static UNICODE: OnceLock<Lowering> = OnceLock::new();
    static ASCII: OnceLock<Lowering> = OnceLock::new();
    match rules {
        CaseRules::Unicode => UNICODE.get_or_init(|| Lowering {
            pairs: tables::LOWER.to_vec(),
            changed: CharSet::from_ranges(tables::LOWER.iter().map(|&(c, _)| (c, c))),
            extra: tables::EXTRA_CASES,
        }),
        CaseRules::Ascii => ASCII.get_or_init(|| Lowering {
            pairs: (b'A'..=b'Z')
                .map(|c| (u32::from(c), u32::from(c) + 32))
                .collect(),
            changed: CharSet::from_ranges([(0x41, 0x5A)]),
            extra: &[],
        }),
    }
}

/// `lower(c)` as IGNORECASE computes it.
pub fn lower(c: u32, rules: CaseRules) -> u32 {
    let l = lowering(rules);
    match l.pairs.binary_search_by_key(&c, |&(k, _)| k) {
        Ok(i) => l.pairs[i].1,
        Err(_) => c,
    }
}

/// Whether IGNORECASE treats `c` as having case at all.
pub fn is_cased(c: u32, rules: CaseRules) -> bool {
    match rules {
        CaseRules::Unicode => ranges_contain(tables::CASED, c),
        CaseRules::Ascii => (c as u8 as u32 == c) && (c as u8).is_ascii_alphabetic(),
    }
}

/// Whether any character of `set` has case.
pub fn has_cased(set: &CharSet, rules: CaseRules) -> bool {
    static CASED: OnceLock<CharSet> = OnceLock::new();
    let cased = match rules {
        CaseRules::Unicode => {
            CASED.get_or_init(|| CharSet::from_ranges(tables::CASED.iter().copied()))
        }
        CaseRules::Ascii => {
            return set.ranges().iter().any(|&(lo, hi)| {
                lo <= 0x7A && hi >= 0x41 && (lo..=hi.min(0x7A)).any(|c| is_cased(c, rules))
            });
        }
    };
    set.difference(cased).len() < set.len()
}

fn ranges_contain(ranges: &[(u32, u32)], c: u32) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `{lower(c) : c in set}` plus the extra cases of each.
pub fn lowered_with_extra_cases(set: &CharSet, rules: CaseRules) -> CharSet {
    let l = lowering(rules);
    let mut add: Vec<(u32, u32)> = l
        .pairs
        .iter()
        .filter(|&&(c, _)| set.contains(c))
        .map(|&(_, lo)| (lo, lo))
        .collect();
    let lowered = set
        .difference(&l.changed)
        .union(&CharSet::from_ranges(add.drain(..)));
    let extra: Vec<(u32, u32)> = l
        .extra
        .iter()
        .filter(|(k, _)| lowered.contains(*k))
        .flat_map(|(_, vs)| vs.iter().map(|&v| (v, v)))
        .collect();
    lowered.union(&CharSet::from_ranges(extra))
}

/// Every text character whose `lower` is in `set`.
pub fn preimage(set: &CharSet, rules: CaseRules) -> CharSet {
    let l = lowering(rules);
    let upper: Vec<(u32, u32)> = l
        .pairs
        .iter()
        .filter(|&&(_, lo)| set.contains(lo))
        .map(|&(c, _)| (c, c))
        .collect();
    set.difference(&l.changed)
        .union(&CharSet::from_ranges(upper))
}

/// The characters of one category escape (`\d`, `\s`, `\w`), as Python
/// defines them for str patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Digit,
    Space,
    Word,
}

pub fn category(cat: Category, rules: CaseRules) -> &'static CharSet {
    static SETS: OnceLock<[CharSet; 6]> = OnceLock::new();
    let sets = SETS.get_or_init(|| {
        let ascii = |pred: fn(u8) -> bool| {
            CharSet::from_ranges(
                (0u8..128)
                    .filter(|&b| pred(b))
                    .map(|b| (b.into(), b.into())),
            )
        };
        [
            CharSet::from_ranges(tables::DIGIT.iter().copied()),
            CharSet::from_ranges(tables::SPACE.iter().copied()),
            CharSet::from_ranges(tables::WORD.iter().copied()),
            ascii(|b| b.is_ascii_digit()),
            // Python's ASCII whitespace: space, \t, \n, \r, \f, \v.
            ascii(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)),
            ascii(|b| b.is_ascii_alphanumeric() || b == b'_'),
        ]
    });
    let offset = match rules {
        CaseRules::Unicode => 0,
        CaseRules::Ascii => 3,
    };
    &sets[offset
        + match cat {
            Category::Digit => 0,
            Category::Space => 1,
            Category::Word => 2,
        }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_algebra() {
        let a = CharSet::from_ranges([(10, 20), (21, 25), (40, 50)]);
        assert_eq!(a.ranges(), &[(10, 25), (40, 50)]);
        assert_eq!(a.complement().complement(), a);
        assert!(a.complement().contains(0) && !a.complement().contains(15));
        let b = CharSet::from_ranges([(15, 45)]);
        assert_eq!(a.difference(&b).ranges(), &[(10, 14), (46, 50)]);
        let all = CharSet::default().complement();
        assert!(!all.contains(0xD800) && all.contains(0x10FFFF));
    }

    #[test]
    fn turkish_and_greek_cases_follow_python() {
        let r = CaseRules::Unicode;
        assert_eq!(lower('İ' as u32, r), 'i' as u32);
        let i = preimage(
            &lowered_with_extra_cases(&CharSet::single('i' as u32), r),
            r,
        );
        for c in ['i', 'I', 'İ', 'ı'] {
            assert!(i.contains(c as u32), "{c}");
        }
        let sigma = preimage(
            &lowered_with_extra_cases(&CharSet::single('Σ' as u32), r),
            r,
        );
        for c in ['σ', 'ς', 'Σ'] {
            assert!(sigma.contains(c as u32), "{c}");
        }
        let ascii = preimage(
            &lowered_with_extra_cases(&CharSet::single('i' as u32), CaseRules::Ascii),
            CaseRules::Ascii,
        );
        assert_eq!(ascii.ranges(), &[(0x49, 0x49), (0x69, 0x69)]);
    }
}
