//! The parsed pattern as a tree: what `Lib/re/_parser.py` builds, with
//! every case-insensitive decision already made (each character item holds
//! the exact set of text characters it matches, computed by the parser
//! with `charset`'s rules). The parser in `mod.rs` builds it; `engine`
//! compiles and runs it. Group numbers are Python's (1-based).

use super::charset::{CaseRules, CharSet};

/// Python's `MAXREPEAT`: a repeat bound that means "unbounded".
pub const UNBOUNDED: u64 = 4_294_967_295;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A sequence of items, matched one after the other (possibly none).
    Concat(Vec<Node>),
    /// Alternatives tried in order (`a|b`).
    Alt(Vec<Node>),
    /// One character from a set.
    Unit(Unit),
    /// A zero-width assertion on the position.
    At(At),
    /// A group: capturing (`index` is the group number) or not (`(?:...)`,
    /// `(?i:...)`), kept so that repeats see Python's shape of the item.
    Group {
        index: Option<usize>,
        /// `(?:...)` without flags: Python's parser splices its items into
        /// the enclosing sequence once that sequence is parsed.
        plain: bool,
        body: Box<Node>,
    },
    Repeat {
        min: u64,
        /// `UNBOUNDED` for no upper bound.
        max: u64,
        mode: RepeatMode,
        body: Box<Node>,
    },
    /// `(?=...)`, `(?!...)`, `(?<=...)`, `(?<!...)`; `back` is the fixed
    /// width of a lookbehind (0 for a lookahead).
    Look {
        negate: bool,
        back: u64,
        body: Box<Node>,
    },
    /// `(?>...)`.
    Atomic(Box<Node>),
    /// `\1`, `(?P=name)`; `case` is how IGNORECASE lowers characters for
    /// the comparison, `None` when it compares exactly.
    Backref {
        group: usize,
        case: Option<CaseRules>,
    },
    /// `(?(group)yes|no)`; `no` is an empty `Concat` when absent.
    Cond {
        group: usize,
        yes: Box<Node>,
        no: Box<Node>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatMode {
    Greedy,
    Lazy,
    Possessive,
}

/// One character item. `kind` records what Python parsed it as, because
/// Python folds alternatives of literals and plain classes into one class
/// (and then repeats it with its single-character repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub set: CharSet,
    pub kind: UnitKind,
    /// The item as Python's parser records it (`L97` for `a`, `IN[...]`
    /// for a class, ...): Python factors out an item that starts every
    /// alternative when those records are equal, so `(?:a|a)` is not
    /// folded into a class while `(?:a|A)` is.
    pub key: String,
    /// When this item starts the pattern, `re.search` only tries positions
    /// whose character is in this set (`_compile_info`'s charset prefix),
    /// `None` when Python builds no such set for it. It is `set` except
    /// where Python builds it with the pattern's global ASCII/Unicode rule
    /// instead of a group's own (`(?a:\S)` skips U+2028 as Unicode
    /// whitespace), which changes results.
    pub search_filter: Option<CharSet>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A literal character (or an escape for one).
    Literal,
    /// A class (`[...]`, `\d`, `\w`, ...), not negated with `^`.
    Class,
    /// `[^...]`.
    NegatedClass,
    /// `.`.
    Any,
}

/// Zero-width positions, as `_sre` tests them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// `^` without MULTILINE, and `\A`: the start of the text.
    Beginning,
    /// `^` under MULTILINE: the start or just after a `\n`.
    BeginningLine,
    /// `$` without MULTILINE: the end, or before a final `\n`.
    End,
    /// `$` under MULTILINE: the end or before any `\n`.
    EndLine,
    /// `\Z`: the very end.
    EndString,
    /// `\b`; `ascii` under the ASCII flag.
    Boundary { ascii: bool },
    /// `\B`.
    NonBoundary { ascii: bool },
}

impl Node {
    pub fn empty() -> Node {
        Node::Concat(Vec::new())
    }

    /// Python's `_simple`: one item that always matches exactly one
    /// character (possibly inside non-capturing groups), so `_sre` repeats
    /// it with `REPEAT_ONE` and its relatives. Returns what it matches.
    pub fn single_unit(&self) -> Option<CharSet> {
        let mut items = Vec::new();
        self.python_items(&mut items);
        let [item] = items.as_slice() else {
            return None;
        };
        match item {
            Node::Unit(u) => Some(u.set.clone()),
            Node::Group {
                index: None, body, ..
            } => body.single_unit(),
            Node::Alt(branches) => alternatives_as_class(branches).map(|(set, _)| set),
            _ => None,
        }
    }

    /// The set of characters `re.search` requires at a start position
    /// before it tries the pattern there (`_compile_info` and
    /// `_get_charset_prefix`), if any; `min_width` is the pattern's.
    pub fn search_filter(&self, min_width: u64) -> Option<CharSet> {
        if min_width == 0 {
            return None;
        }
        // The first item, inside any groups.
        let mut node = self;
        loop {
            let mut items = Vec::new();
            node.python_items(&mut items);
            match items.first() {
                Some(Node::Group { body, .. }) => node = body,
                Some(Node::Unit(u)) if u.key.starts_with('L') => {
                    // A literal prefix: Python searches for it exactly,
                    // which is the pattern's own meaning.
                    return None;
                }
                // `[^a]` (Python's NOT_LITERAL) gets no set.
                Some(Node::Unit(u)) if u.key.starts_with("NL") => return None,
                Some(Node::Unit(u)) => return u.search_filter.clone(),
                Some(Node::Alt(branches)) => {
                    // Alternatives folded into one class.
                    alternatives_as_class(branches)?;
                    let mut set = CharSet::default();
                    for b in branches {
                        let mut items = Vec::new();
                        b.python_items(&mut items);
                        let Some(Node::Unit(u)) = items.first() else {
                            return None;
                        };
                        set = set.union(u.search_filter.as_ref()?);
                    }
                    return Some(set);
                }
                _ => return None,
            }
        }
    }

    /// The items of this node as a sequence in Python's parse tree: plain
    /// non-capturing groups spliced in.
    fn python_items<'a>(&'a self, out: &mut Vec<&'a Node>) {
        match self {
            Node::Concat(items) => {
                for item in items {
                    item.python_items(out);
                }
            }
            Node::Group {
                index: None,
                plain: true,
                body,
            } => body.python_items(out),
            other => out.push(other),
        }
    }
}

/// `_parse_sub` turns `a|[bc]|\d` into one class when every alternative is
/// one literal or a class that is not negated (or an alternation that
/// became a class itself), but only when it has not first moved an item
/// common to all alternatives out of them (`(?:a|a)` is `a(?:|)`, and no
/// class). Returns the class and its `Unit::key`.
fn alternatives_as_class(branches: &[Node]) -> Option<(CharSet, String)> {
    let mut set = CharSet::default();
    let mut keys = Vec::new();
    for b in branches {
        let mut items = Vec::new();
        b.python_items(&mut items);
        match items.as_slice() {
            [Node::Unit(u)] if matches!(u.kind, UnitKind::Literal | UnitKind::Class) => {
                set = set.union(&u.set);
                keys.push(u.key.clone());
            }
            [Node::Alt(inner)] => {
                let (s, k) = alternatives_as_class(inner)?;
                set = set.union(&s);
                keys.push(k);
            }
            _ => return None,
        }
    }
    if keys.iter().all(|k| *k == keys[0]) {
        return None;
    }
    // The class's items: each literal, and the items of each class, once.
    let mut members: Vec<&str> = Vec::new();
    for k in &keys {
        let inner = k.strip_prefix("IN[").and_then(|k| k.strip_suffix(']'));
        for m in inner.map_or(vec![k.as_str()], |i| i.split(',').collect()) {
            if !members.contains(&m) {
                members.push(m);
            }
        }
    }
    Some((set, format!("IN[{}]", members.join(","))))
}
