//! Python's `re` syntax and semantics (docs/contract.md §4). Students write patterns
//! for `re.search(p, text, re.IGNORECASE)`; this module parses them as
//! `Lib/re/_parser.py` (CPython 3.11) does, with the same errors, into a
//! tree (`tree::Node`) that `engine` runs with CPython's own semantics
//! within a step budget. Every match and every `groupdict` comes from
//! `engine`.
//!
//! It also writes the pattern for the linear-time `regex` crate, used only
//! to tell quickly that a message has no match at all; the crate takes it
//! only when it needs nothing the crate lacks (no lookaround, backreference,
//! conditional, atomic group or possessive repeat). Nothing in it is left
//! to that engine's reading of the syntax:
//!
//! - case-insensitivity is spelled out per character and per class with
//!   Python's rules (`lower(ch)` and its extra cases, from `tables`), so
//!   "İSTANBUL" matches `istanbul` and `ſ` matches `s` as in Python;
//! - `\d`, `\s`, `\w`, `\b` use Python's definitions for str patterns;
//! - `$` also matches before a final newline, `\Z` only at the very end;
//! - `{,n}`, a `{` that is not a repeat, `[[`, `&&`, `--` and `~~` inside
//!   classes mean what they mean to Python;
//! - groups are emitted unnamed, in Python's numbering.
//!
//! The tree carries the same decisions (each character item holds the set
//! of text characters it matches). One known difference: `\N{...}` names
//! come from the Unicode name table of the `unicode_names2` crate, which
//! may know characters newer than CPython 3.11's Unicode 14.

mod charset;
pub mod engine;
#[rustfmt::skip]
mod tables;
pub mod tree;

use std::fmt::Write as _;

pub use charset::{CaseRules, CharSet};
use charset::{Category, category, has_cased, is_cased, lower, lowered_with_extra_cases, preimage};
use tree::{At, Node, RepeatMode, UNBOUNDED, Unit, UnitKind};

/// A Python pattern translated for the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    /// The pattern for the linear-time `regex` crate (no inline flags
    /// needed around it); that crate refuses it when it needs backtracking.
    pub pattern: String,
    /// Named groups in order of appearance: (name, group number).
    pub names: Vec<(String, usize)>,
    /// The pattern as a tree, for `engine` (Python's semantics exactly).
    pub tree: Node,
    /// The number of capturing groups.
    pub groups: usize,
    /// The fewest characters a match can have (Python's `getwidth()`).
    pub min_width: u64,
}

/// Why Python would refuse the pattern, in Python's words (as `re.error`
/// prints it), or why the engine cannot follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternSyntaxError(pub String);

impl std::fmt::Display for PatternSyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Translates `pattern` as `re.compile(pattern, re.IGNORECASE)` reads it.
pub fn translate(pattern: &str) -> Result<Translated, PatternSyntaxError> {
    let mut p = Parser::new(pattern.chars().collect());
    let (pattern, tree) = p.parse_top()?;
    Ok(Translated {
        pattern,
        names: p.names,
        tree,
        groups: p.groups,
        min_width: p.min_width,
    })
}

/// The engine's pattern for `re.escape(text)` under IGNORECASE: how a bot
/// without a pattern is found by its name in a message.
pub fn literal(text: &str) -> String {
    let flags = Flags {
        ignorecase: true,
        ..Flags::default()
    };
    let mut out = String::new();
    for c in text.chars() {
        emit_literal(&mut out, c as u32, flags);
    }
    out
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    ignorecase: bool,
    multiline: bool,
    dotall: bool,
    verbose: bool,
    ascii: bool,
    /// `u` among a group's flags: it turns the ASCII rule off inside.
    unicode: bool,
}

impl Flags {
    fn rules(self) -> CaseRules {
        if self.ascii {
            CaseRules::Ascii
        } else {
            CaseRules::Unicode
        }
    }
}

/// What the last item emitted was, for the rules on repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    /// An anchor (`^`, `$`, `\b`, …): "nothing to repeat".
    At,
    /// Already repeated: "multiple repeat".
    Repeat,
    Other,
}

/// How many characters a piece of pattern can match: Python's `getwidth`
/// (`hi == MAXREPEAT` means unbounded). Python refuses a lookbehind whose
/// width is not fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Width {
    lo: u64,
    hi: u64,
}

impl Width {
    const ZERO: Width = Width { lo: 0, hi: 0 };
    const ONE: Width = Width { lo: 1, hi: 1 };

    fn then(self, next: Width) -> Width {
        Width {
            lo: (self.lo + next.lo).min(MAXREPEAT - 1),
            hi: (self.hi + next.hi).min(MAXREPEAT),
        }
    }

    fn or(self, other: Width) -> Width {
        Width {
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }

    fn repeated(self, min: u64, max: Option<u64>) -> Width {
        let hi = match max {
            None if self.hi > 0 => MAXREPEAT,
            None => 0,
            Some(m) => self.hi.saturating_mul(m),
        };
        Width {
            lo: self.lo.saturating_mul(min).min(MAXREPEAT - 1),
            hi: hi.min(MAXREPEAT),
        }
    }
}

struct Parser {
    src: Vec<char>,
    /// Each closed group's width, by group number (index 0 unused).
    group_widths: Vec<Width>,
    pos: usize,
    /// Capturing groups opened so far.
    groups: usize,
    open: Vec<usize>,
    names: Vec<(String, usize)>,
    /// Inside a lookbehind: the group count when it started.
    lookbehind_groups: Option<usize>,
    /// Groups named by conditionals, checked once all groups are known.
    conditional_refs: Vec<(usize, usize)>,
    /// The whole pattern's width's lower bound, once parsed.
    min_width: u64,
    global: Flags,
}

impl Parser {
    fn new(src: Vec<char>) -> Parser {
        Parser {
            src,
            pos: 0,
            group_widths: vec![Width::ZERO],
            groups: 0,
            open: Vec::new(),
            names: Vec::new(),
            lookbehind_groups: None,
            conditional_refs: Vec::new(),
            min_width: 0,
            global: Flags {
                ignorecase: true,
                ..Flags::default()
            },
        }
    }
}

/// The character `unicodedata.lookup(name)` finds: a name or an alias,
/// any ASCII case, spelled exactly (the table's own lookup is looser: it
/// ignores spaces, underscores and medial hyphens, which Python does not);
/// the algorithmic Hangul and CJK names only in upper case, as in CPython.
fn named_character(name: &str) -> Option<char> {
    let ch = unicode_names2::character(name)?;
    let canonical = unicode_names2::name(ch)?.to_string();
    if canonical.starts_with("HANGUL SYLLABLE ") || canonical.starts_with("CJK UNIFIED IDEOGRAPH-")
    {
        return (name == canonical).then_some(ch);
    }
    let upper = name.to_ascii_uppercase();
    if upper == canonical {
        return Some(ch);
    }
    // An alias: its table is not public, so check the spelling's shape.
    let words_ok = upper.split(' ').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
    });
    words_ok.then_some(ch)
}

/// `repr()` of a string as Python writes it in these errors: single
/// quotes unless the text holds one and no double quote.
fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                write!(out, "\\x{:02x}", c as u32).unwrap_or(());
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn err<T>(msg: impl Into<String>, pos: usize) -> Result<T, PatternSyntaxError> {
    Err(PatternSyntaxError(format!(
        "{} at position {pos}",
        msg.into()
    )))
}

const MAXREPEAT: u64 = 4_294_967_295;

impl Parser {
    fn peek(&self) -> Option<char> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.src.get(self.pos + offset).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn parse_top(&mut self) -> Result<(String, Node), PatternSyntaxError> {
        // Global flags may only open the pattern (Python 3.11).
        loop {
            let start = self.pos;
            if self.peek() == Some('(')
                && self.peek_at(1) == Some('?')
                && self
                    .peek_at(2)
                    .is_some_and(|c| "aiLmsuxt".contains(c) || c == '-')
            {
                self.pos += 2;
                let first = self.next().unwrap_or('-');
                match self.parse_flags(first, start)? {
                    None => continue,
                    Some(_) => {
                        // A scoped group: parse it as part of the body.
                        self.pos = start;
                    }
                }
            } else if self.global.verbose && self.skip_verbose() {
                continue;
            }
            break;
        }
        let flags = self.global;
        let (out, width, tree) = self.parse_alternation(flags, 0)?;
        self.min_width = width.lo;
        if self.pos < self.src.len() {
            if self.peek() == Some(')') {
                return err("unbalanced parenthesis", self.pos);
            }
            return err("unexpected character", self.pos);
        }
        for &(group, at) in &self.conditional_refs {
            if group > self.groups {
                return err(format!("invalid group reference {group}"), at);
            }
        }
        Ok((out, tree))
    }

    /// Skips whitespace and a comment in verbose mode; true if it did.
    fn skip_verbose(&mut self) -> bool {
        match self.peek() {
            Some(c) if " \t\n\r\x0b\x0c".contains(c) => {
                self.pos += 1;
                true
            }
            Some('#') => {
                while let Some(c) = self.next() {
                    if c == '\n' {
                        break;
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn parse_alternation(
        &mut self,
        flags: Flags,
        depth: usize,
    ) -> Result<(String, Width, Node), PatternSyntaxError> {
        let (mut out, mut width, first) = self.parse_sequence(flags, depth)?;
        let mut nodes = vec![first];
        while self.eat('|') {
            out.push('|');
            let (branch, w, node) = self.parse_sequence(flags, depth)?;
            out.push_str(&branch);
            width = width.or(w);
            nodes.push(node);
        }
        let node = if nodes.len() == 1 {
            nodes.pop().unwrap_or_else(Node::empty)
        } else {
            Node::Alt(nodes)
        };
        Ok((out, width, node))
    }

    fn parse_sequence(
        &mut self,
        flags: Flags,
        depth: usize,
    ) -> Result<(String, Width, Node), PatternSyntaxError> {
        let mut out = String::new();
        // The tree's items; the last one is the item `last` describes.
        let mut nodes: Vec<Node> = Vec::new();
        // Where the last item starts in `out`, what it is and its width.
        let mut last: Option<(usize, ItemKind, Width)> = None;
        // The width of everything before the last item.
        let mut before = Width::ZERO;
        loop {
            if flags.verbose && self.skip_verbose() {
                continue;
            }
            let Some(c) = self.peek() else { break };
            if c == '|' || c == ')' {
                break;
            }
            let start = self.pos;
            if matches!(c, '*' | '+' | '?' | '{') {
                if let Some((min, max)) = self.parse_repeat()? {
                    let Some((at, kind, item_width)) = last else {
                        return err("nothing to repeat", start);
                    };
                    match kind {
                        ItemKind::At => return err("nothing to repeat", start),
                        ItemKind::Repeat => return err("multiple repeat", start),
                        ItemKind::Other => {}
                    }
                    let item = out.split_off(at);
                    let lazy = self.eat('?');
                    let possessive = !lazy && self.eat('+');
                    let body = nodes.pop().unwrap_or_else(Node::empty);
                    nodes.push(Node::Repeat {
                        min,
                        max: max.unwrap_or(UNBOUNDED),
                        mode: if lazy {
                            RepeatMode::Lazy
                        } else if possessive {
                            RepeatMode::Possessive
                        } else {
                            RepeatMode::Greedy
                        },
                        body: Box::new(body),
                    });
                    if item_width.hi == 0 {
                        // Repeating what matches no characters (a
                        // lookaround) is the same, for whether there is a
                        // match, as trying it once at most.
                        match (min, max) {
                            (_, Some(0)) => {}
                            (0, _) if lazy => write!(out, "(?:|{item})").unwrap_or(()),
                            (0, _) if possessive => write!(out, "(?>{item}|)").unwrap_or(()),
                            (0, _) => write!(out, "(?:{item}|)").unwrap_or(()),
                            _ => out.push_str(&item),
                        }
                    } else {
                        out.push_str("(?:");
                        out.push_str(&item);
                        out.push(')');
                        match (min, max) {
                            (0, None) => out.push('*'),
                            (1, None) => out.push('+'),
                            (0, Some(1)) => out.push('?'),
                            (m, None) => write!(out, "{{{m},}}").unwrap_or(()),
                            (m, Some(n)) if m == n => write!(out, "{{{m}}}").unwrap_or(()),
                            (m, Some(n)) => write!(out, "{{{m},{n}}}").unwrap_or(()),
                        }
                        if lazy {
                            out.push('?');
                        } else if possessive {
                            out.push('+');
                        }
                    }
                    last = Some((at, ItemKind::Repeat, item_width.repeated(min, max)));
                    continue;
                }
                // A `{` that is not a repeat is itself.
                self.pos = start + 1;
                if let Some((_, _, w)) = last {
                    before = before.then(w);
                }
                let at = out.len();
                emit_literal(&mut out, '{' as u32, flags);
                nodes.push(literal_node('{' as u32, flags));
                last = Some((at, ItemKind::Other, Width::ONE));
                continue;
            }
            let at = out.len();
            let (kind, width, node) =
                match self.parse_item(flags, depth, &mut out, last.is_none())? {
                    Some(item) => item,
                    // A comment or flags: the previous item stays the one a
                    // repeat applies to.
                    None => continue,
                };
            if let Some((_, _, w)) = last {
                before = before.then(w);
            }
            last = Some((at, kind, width));
            nodes.push(node);
        }
        let width = match last {
            Some((_, _, w)) => before.then(w),
            None => before,
        };
        Ok((out, width, Node::Concat(nodes)))
    }

    /// Reads a repeat at the current position: `Some((min, max))`, or
    /// `None` for a `{` that is a literal.
    fn parse_repeat(&mut self) -> Result<Option<(u64, Option<u64>)>, PatternSyntaxError> {
        let start = self.pos;
        match self.next() {
            Some('*') => return Ok(Some((0, None))),
            Some('+') => return Ok(Some((1, None))),
            Some('?') => return Ok(Some((0, Some(1)))),
            _ => {}
        }
        if self.peek() == Some('}') {
            self.pos = start;
            return Ok(None);
        }
        let digits = |p: &mut Parser| {
            let mut s = String::new();
            while let Some(c) = p.peek().filter(char::is_ascii_digit) {
                s.push(c);
                p.pos += 1;
            }
            s
        };
        let lo = digits(self);
        let hi = if self.eat(',') {
            digits(self)
        } else {
            lo.clone()
        };
        if !self.eat('}') {
            self.pos = start;
            return Ok(None);
        }
        let number = |s: &str| -> Result<u64, PatternSyntaxError> {
            match s.parse::<u64>() {
                Ok(n) if n < MAXREPEAT => Ok(n),
                _ => Err(PatternSyntaxError(
                    "the repetition number is too large".to_owned(),
                )),
            }
        };
        let min = if lo.is_empty() { 0 } else { number(&lo)? };
        let max = if hi.is_empty() {
            None
        } else {
            Some(number(&hi)?)
        };
        if let Some(max) = max
            && max < min
        {
            return err("min repeat greater than max repeat", start + 1);
        }
        Ok(Some((min, max)))
    }

    /// Parses one item into `out`; `None` when it emitted nothing (a
    /// comment, global flags).
    fn parse_item(
        &mut self,
        flags: Flags,
        depth: usize,
        out: &mut String,
        first_in_sequence: bool,
    ) -> Result<Option<(ItemKind, Width, Node)>, PatternSyntaxError> {
        let start = self.pos;
        let c = self.next().unwrap_or_default();
        match c {
            '.' => {
                out.push_str(if flags.dotall { "(?s:.)" } else { "[^\\n]" });
                let set = if flags.dotall {
                    CharSet::default().complement()
                } else {
                    CharSet::single('\n' as u32).complement()
                };
                let node = Node::Unit(Unit {
                    set,
                    kind: UnitKind::Any,
                    key: "ANY".to_owned(),
                    search_filter: None,
                });
                Ok(Some((ItemKind::Other, Width::ONE, node)))
            }
            '^' => {
                out.push_str(if flags.multiline { "(?m:^)" } else { "\\A" });
                let at = if flags.multiline {
                    At::BeginningLine
                } else {
                    At::Beginning
                };
                Ok(Some((ItemKind::At, Width::ZERO, Node::At(at))))
            }
            '$' => {
                out.push_str(if flags.multiline {
                    "(?m:$)"
                } else {
                    "(?=\\n?\\z)"
                });
                let at = if flags.multiline {
                    At::EndLine
                } else {
                    At::End
                };
                Ok(Some((ItemKind::At, Width::ZERO, Node::At(at))))
            }
            '[' => {
                let negated = self.peek() == Some('^');
                let (set, key, search_filter) = self.parse_class(flags, start)?;
                emit_set(out, &set);
                let kind = if negated {
                    UnitKind::NegatedClass
                } else {
                    UnitKind::Class
                };
                let node = Node::Unit(Unit {
                    set,
                    kind,
                    key,
                    search_filter,
                });
                Ok(Some((ItemKind::Other, Width::ONE, node)))
            }
            '(' => self.parse_group(flags, depth, out, start, first_in_sequence),
            '\\' => self.parse_escape(flags, out, start),
            c => {
                emit_literal(out, c as u32, flags);
                Ok(Some((
                    ItemKind::Other,
                    Width::ONE,
                    literal_node(c as u32, flags),
                )))
            }
        }
    }

    fn parse_escape(
        &mut self,
        flags: Flags,
        out: &mut String,
        start: usize,
    ) -> Result<Option<(ItemKind, Width, Node)>, PatternSyntaxError> {
        let Some(c) = self.next() else {
            return err("bad escape (end of pattern)", start);
        };
        let word = || category(Category::Word, flags.rules());
        let at = match c {
            'A' => At::Beginning,
            'Z' => At::EndString,
            'b' => At::Boundary { ascii: flags.ascii },
            _ => At::NonBoundary { ascii: flags.ascii },
        };
        match c {
            'A' => out.push_str("\\A"),
            'Z' => out.push_str("\\z"),
            'b' | 'B' => {
                let w = set_text(word());
                let boundary = format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))");
                if c == 'b' {
                    // Python: no boundary at all in an empty text.
                    write!(out, "(?:(?!\\A\\z){boundary})").unwrap_or(());
                } else {
                    write!(out, "(?:(?!\\A\\z)(?!{boundary}))").unwrap_or(());
                }
            }
            _ => {
                let item = self.escape_item(c, start, false)?;
                let (width, node) = match item {
                    ClassItem::Char(ch) => {
                        emit_literal(out, ch, flags);
                        (Width::ONE, literal_node(ch, flags))
                    }
                    ClassItem::Set(cats) => {
                        let key = format!("IN[{}]", class_item_key(&ClassItem::Set(cats.clone())));
                        let set = class_set(&cats, &CharSet::default(), false, flags);
                        let filter_flags = self.search_filter_flags(flags);
                        let search_filter =
                            Some(class_set(&cats, &CharSet::default(), false, filter_flags));
                        emit_set(out, &set);
                        let kind = UnitKind::Class;
                        let node = Node::Unit(Unit {
                            set,
                            kind,
                            key,
                            search_filter,
                        });
                        (Width::ONE, node)
                    }
                    ClassItem::GroupRef(n) => {
                        self.check_group_ref(n, start)?;
                        emit_backref(out, n, flags);
                        (self.group_widths[n], backref_node(n, flags))
                    }
                };
                return Ok(Some((ItemKind::Other, width, node)));
            }
        }
        Ok(Some((ItemKind::At, Width::ZERO, Node::At(at))))
    }

    fn check_group_ref(&self, group: usize, at: usize) -> Result<(), PatternSyntaxError> {
        if group > self.groups {
            return err(format!("invalid group reference {group}"), at + 1);
        }
        if self.open.contains(&group) {
            return err("cannot refer to an open group", at);
        }
        if let Some(lb) = self.lookbehind_groups
            && group > lb
        {
            return err(
                "cannot refer to group defined in the same lookbehind subpattern",
                at,
            );
        }
        Ok(())
    }

    /// An escape after `\` and `c` (already read), outside or inside a class.
    fn escape_item(
        &mut self,
        c: char,
        start: usize,
        in_class: bool,
    ) -> Result<ClassItem, PatternSyntaxError> {
        let item = match c {
            'a' => ClassItem::Char(7),
            'b' if in_class => ClassItem::Char(8),
            'f' => ClassItem::Char(0x0C),
            'n' => ClassItem::Char('\n' as u32),
            'r' => ClassItem::Char('\r' as u32),
            't' => ClassItem::Char('\t' as u32),
            'v' => ClassItem::Char(0x0B),
            '\\' => ClassItem::Char('\\' as u32),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                let cat = match c.to_ascii_lowercase() {
                    'd' => Category::Digit,
                    's' => Category::Space,
                    _ => Category::Word,
                };
                ClassItem::Set(vec![(cat, c.is_ascii_uppercase())])
            }
            'x' => ClassItem::Char(self.hex_escape(2, start)?),
            'u' => ClassItem::Char(self.hex_escape(4, start)?),
            'U' => {
                let v = self.hex_escape(8, start)?;
                if v > 0x10FFFF {
                    return err(format!("bad escape \\U{v:08x}"), start);
                }
                ClassItem::Char(v)
            }
            'N' => {
                // `\N{name}`: the character `unicodedata.lookup(name)`
                // names (case-insensitive; aliases too; a named sequence
                // is not one character, so it is undefined here as there).
                if !self.eat('{') {
                    return err("missing {", self.pos);
                }
                let name = self.take_until('}', "character name")?;
                match named_character(&name) {
                    Some(ch) => ClassItem::Char(ch as u32),
                    None => {
                        let msg = format!("undefined character name {}", py_repr(&name));
                        return err(msg, start);
                    }
                }
            }
            '0' => ClassItem::Char(self.more_octal(0, 2)),
            '1'..='9' if in_class => {
                // Inside a class a digit escape is octal, never a group.
                if !('1'..='7').contains(&c) {
                    return err(format!("bad escape \\{c}"), start);
                }
                let v = self.more_octal(c.to_digit(8).unwrap_or(0), 2);
                if v > 0o377 {
                    return err(
                        format!("octal escape value \\{v:o} outside of range 0-0o377"),
                        start,
                    );
                }
                ClassItem::Char(v)
            }
            '1'..='9' => {
                let mut digits = c.to_string();
                if let Some(d2) = self.peek().filter(char::is_ascii_digit) {
                    self.pos += 1;
                    digits.push(d2);
                    let octal = |ch: char| ('0'..='7').contains(&ch);
                    if octal(c)
                        && octal(d2)
                        && let Some(d3) = self.peek().filter(|&ch| octal(ch))
                    {
                        self.pos += 1;
                        digits.push(d3);
                        let v = u32::from_str_radix(&digits, 8).unwrap_or(0);
                        if v > 0o377 {
                            return err(
                                format!("octal escape value \\{digits} outside of range 0-0o377"),
                                start,
                            );
                        }
                        return Ok(ClassItem::Char(v));
                    }
                }
                ClassItem::GroupRef(digits.parse().unwrap_or(0))
            }
            c if c.is_ascii_alphabetic() => return err(format!("bad escape \\{c}"), start),
            c => ClassItem::Char(c as u32),
        };
        Ok(item)
    }

    fn hex_escape(&mut self, digits: usize, start: usize) -> Result<u32, PatternSyntaxError> {
        let mut text = String::new();
        for _ in 0..digits {
            match self.peek().filter(char::is_ascii_hexdigit) {
                Some(d) => {
                    text.push(d);
                    self.pos += 1;
                }
                None => break,
            }
        }
        if text.len() != digits {
            let kind = self.src[start + 1];
            return err(format!("incomplete escape \\{kind}{text}"), start);
        }
        Ok(u32::from_str_radix(&text, 16).unwrap_or(0))
    }

    /// One member of a class, `c` (already read) at `at`: a character or
    /// an escape.
    fn class_member(&mut self, c: char, at: usize) -> Result<ClassItem, PatternSyntaxError> {
        if c != '\\' {
            return Ok(ClassItem::Char(c as u32));
        }
        let Some(e) = self.next() else {
            return err("bad escape (end of pattern)", at);
        };
        self.escape_item(e, at, true)
    }

    /// Up to `n` more octal digits after `value`.
    fn more_octal(&mut self, mut value: u32, n: usize) -> u32 {
        for _ in 0..n {
            match self.peek().and_then(|d| d.to_digit(8)) {
                Some(d) => {
                    value = value * 8 + d;
                    self.pos += 1;
                }
                None => break,
            }
        }
        value
    }

    /// A class after its `[`: the set of text characters it matches.
    /// Also returns the class as Python's parser records it (`Unit::key`)
    /// and its `Unit::search_filter`.
    fn parse_class(
        &mut self,
        flags: Flags,
        start: usize,
    ) -> Result<(CharSet, String, Option<CharSet>), PatternSyntaxError> {
        let negate = self.eat('^');
        let first = self.pos;
        let mut literal = CharSet::default();
        let mut cats: Vec<(Category, bool)> = Vec::new();
        // Python's items, in order, for `Unit::key`.
        let mut items: Vec<String> = Vec::new();
        // A range reaching past U+FFFF (no search filter under IGNORECASE).
        let mut astral_range = false;
        loop {
            let item_start = self.pos;
            let Some(c) = self.next() else {
                return err("unterminated character set", start);
            };
            if c == ']' && item_start != first {
                break;
            }
            let item = self.class_member(c, item_start)?;
            if self.peek() == Some('-') {
                self.pos += 1;
                let that_start = self.pos;
                let Some(that) = self.next() else {
                    return err("unterminated character set", start);
                };
                if that == ']' {
                    items.push(class_item_key(&item));
                    items.push(class_item_key(&ClassItem::Char('-' as u32)));
                    add_item(&mut literal, &mut cats, item);
                    literal = literal.union(&CharSet::single('-' as u32));
                    break;
                }
                let that_item = self.class_member(that, that_start)?;
                let range_text: String = self.src[item_start..self.pos].iter().collect();
                match (item, that_item) {
                    (ClassItem::Char(lo), ClassItem::Char(hi)) if lo <= hi => {
                        items.push(format!("R{lo}-{hi}"));
                        astral_range |= hi > 0xFFFF;
                        literal = literal.union(&CharSet::from_ranges([(lo, hi)]));
                    }
                    _ => return err(format!("bad character range {range_text}"), item_start),
                }
            } else {
                items.push(class_item_key(&item));
                add_item(&mut literal, &mut cats, item);
            }
        }
        // `_uniq`, then a class of one literal is that literal.
        let mut unique: Vec<String> = Vec::new();
        for item in items {
            if !unique.contains(&item) {
                unique.push(item);
            }
        }
        let key = match (negate, unique.as_slice()) {
            (false, [one]) if one.starts_with('L') => one.clone(),
            (true, [one]) if one.starts_with('L') => format!("N{one}"),
            (false, _) => format!("IN[{}]", unique.join(",")),
            (true, _) => format!("IN[NEGATE,{}]", unique.join(",")),
        };
        let search_filter =
            if flags.ignorecase && (astral_range || has_cased(&literal, flags.rules())) {
                None
            } else {
                Some(class_set(
                    &cats,
                    &literal,
                    negate,
                    self.search_filter_flags(flags),
                ))
            };
        Ok((
            class_set(&cats, &literal, negate, flags),
            key,
            search_filter,
        ))
    }

    /// The flags `_compiler._compile_info` compiles the first character's
    /// class with: the pattern's global ones (its ASCII or Unicode rules),
    /// whatever a group like `(?a:...)` says, and no case folding (it only
    /// builds one for classes without cased characters).
    fn search_filter_flags(&self, flags: Flags) -> Flags {
        Flags {
            ignorecase: false,
            ascii: self.global.ascii,
            ..flags
        }
    }

    fn parse_group(
        &mut self,
        flags: Flags,
        depth: usize,
        out: &mut String,
        start: usize,
        first_in_sequence: bool,
    ) -> Result<Option<(ItemKind, Width, Node)>, PatternSyntaxError> {
        let mut inner_flags = flags;
        let mut capture = true;
        let mut name = None;
        let mut opener = "(";
        // `(?:...)` without flags, which Python's parser splices into the
        // enclosing sequence.
        let mut plain = false;
        if self.eat('?') {
            let Some(c) = self.next() else {
                return err("unexpected end of pattern", self.pos);
            };
            match c {
                'P' => {
                    if self.eat('<') {
                        let n = self.group_name('>')?;
                        name = Some(n);
                    } else if self.eat('=') {
                        let n = self.group_name(')')?;
                        let Some(&(_, group)) = self.names.iter().find(|(k, _)| *k == n) else {
                            return err(format!("unknown group name '{n}'"), start + 4);
                        };
                        self.check_group_ref(group, start)?;
                        emit_backref(out, group, flags);
                        let node = backref_node(group, flags);
                        return Ok(Some((ItemKind::Other, self.group_widths[group], node)));
                    } else {
                        return match self.next() {
                            None => err("unexpected end of pattern", self.pos),
                            Some(ch) => err(format!("unknown extension ?P{ch}"), start + 1),
                        };
                    }
                }
                ':' => {
                    capture = false;
                    plain = true;
                }
                '#' => {
                    loop {
                        match self.next() {
                            None => return err("missing ), unterminated comment", start),
                            Some(')') => break,
                            Some(_) => {}
                        }
                    }
                    return Ok(None);
                }
                '=' | '!' | '<' => {
                    let mut behind = false;
                    let mut kind = c;
                    if c == '<' {
                        match self.next() {
                            None => return err("unexpected end of pattern", self.pos),
                            Some(k @ ('=' | '!')) => kind = k,
                            Some(k) => return err(format!("unknown extension ?<{k}"), start + 1),
                        }
                        behind = true;
                    }
                    let outer_lookbehind = self.lookbehind_groups;
                    if behind && outer_lookbehind.is_none() {
                        self.lookbehind_groups = Some(self.groups);
                    }
                    let (inner, width, body) = self.parse_alternation(flags, depth + 1)?;
                    if behind && outer_lookbehind.is_none() {
                        self.lookbehind_groups = None;
                    }
                    if !self.eat(')') {
                        return err("missing ), unterminated subpattern", start);
                    }
                    if behind && width.lo != width.hi {
                        return Err(PatternSyntaxError(
                            "look-behind requires fixed-width pattern".to_owned(),
                        ));
                    }
                    let head = match (behind, kind) {
                        (false, '=') => "(?=",
                        (false, _) => "(?!",
                        (true, '=') => "(?<=",
                        (true, _) => "(?<!",
                    };
                    write!(out, "{head}{inner})").unwrap_or(());
                    let node = Node::Look {
                        negate: kind == '!',
                        back: if behind { width.lo } else { 0 },
                        body: Box::new(body),
                    };
                    return Ok(Some((ItemKind::Other, Width::ZERO, node)));
                }
                '(' => {
                    return self
                        .parse_conditional(flags, depth, out, start)
                        .map(|(w, node)| Some((ItemKind::Other, w, node)));
                }
                '>' => {
                    capture = false;
                    opener = "(?>";
                }
                c if "aiLmsuxt-".contains(c) => match self.parse_flags(c, start)? {
                    None => {
                        let _ = first_in_sequence;
                        return err("global flags not at the start of the expression", start);
                    }
                    Some((add, del)) => {
                        inner_flags = apply_flags(flags, add, del);
                        capture = false;
                    }
                },
                c => return err(format!("unknown extension ?{c}"), start + 1),
            }
        }
        let group = if capture {
            self.groups += 1;
            let g = self.groups;
            if let Some(n) = name {
                if self.names.iter().any(|(k, _)| *k == n) {
                    return err(
                        format!(
                            "redefinition of group name '{n}' as group {g}; was group {}",
                            self.names
                                .iter()
                                .find(|(k, _)| *k == n)
                                .map(|x| x.1)
                                .unwrap_or(0)
                        ),
                        start + 4,
                    );
                }
                self.names.push((n, g));
            }
            self.open.push(g);
            Some(g)
        } else {
            if opener == "(" {
                opener = "(?:";
            }
            None
        };
        let (inner, width, body) = self.parse_alternation(inner_flags, depth + 1)?;
        if !self.eat(')') {
            return err("missing ), unterminated subpattern", start);
        }
        let node = if opener == "(?>" {
            Node::Atomic(Box::new(body))
        } else {
            Node::Group {
                index: group,
                plain,
                body: Box::new(body),
            }
        };
        if let Some(g) = group {
            self.open.retain(|&o| o != g);
            if self.group_widths.len() <= g {
                self.group_widths.resize(g + 1, Width::ZERO);
            }
            self.group_widths[g] = width;
        }
        write!(out, "{opener}{inner})").unwrap_or(());
        Ok(Some((ItemKind::Other, width, node)))
    }

    fn parse_conditional(
        &mut self,
        flags: Flags,
        depth: usize,
        out: &mut String,
        start: usize,
    ) -> Result<(Width, Node), PatternSyntaxError> {
        let name_at = self.pos;
        let cond = self.take_until(')', "group name")?;
        let group = if is_identifier(&cond) {
            match self.names.iter().find(|(k, _)| *k == cond) {
                Some(&(_, g)) => g,
                None => return err(format!("unknown group name '{cond}'"), name_at),
            }
        } else {
            let Ok(g) = cond.parse::<usize>() else {
                return err(format!("bad character in group name '{cond}'"), name_at);
            };
            if g == 0 {
                return err("bad group number", name_at);
            }
            self.conditional_refs.push((g, name_at));
            g
        };
        if let Some(lb) = self.lookbehind_groups
            && (group > lb || self.open.contains(&group))
        {
            return err(
                "cannot refer to group defined in the same lookbehind subpattern",
                name_at,
            );
        }
        let (yes, yes_width, yes_node) = self.parse_sequence(flags, depth + 1)?;
        let no = if self.eat('|') {
            let no = self.parse_sequence(flags, depth + 1)?;
            if self.peek() == Some('|') {
                return err("conditional backref with more than two branches", self.pos);
            }
            Some(no)
        } else {
            None
        };
        if !self.eat(')') {
            return err("missing ), unterminated subpattern", start);
        }
        let width = match &no {
            Some((_, no_width, _)) => yes_width.or(*no_width),
            None => Width {
                lo: 0,
                hi: yes_width.hi,
            },
        };
        let no_node = match no {
            Some((no, _, no_node)) => {
                write!(out, "(?({group})(?:{yes})|(?:{no}))").unwrap_or(());
                no_node
            }
            None => {
                write!(out, "(?({group})(?:{yes}))").unwrap_or(());
                Node::empty()
            }
        };
        let node = Node::Cond {
            group,
            yes: Box::new(yes_node),
            no: Box::new(no_node),
        };
        Ok((width, node))
    }

    fn take_until(&mut self, end: char, what: &str) -> Result<String, PatternSyntaxError> {
        let start = self.pos;
        let mut s = String::new();
        loop {
            match self.next() {
                None => return err(format!("missing {end}, unterminated name"), start),
                Some(c) if c == end => break,
                Some(c) => s.push(c),
            }
        }
        if s.is_empty() {
            return err(format!("missing {what}"), start);
        }
        Ok(s)
    }

    fn group_name(&mut self, end: char) -> Result<String, PatternSyntaxError> {
        let at = self.pos;
        let name = self.take_until(end, "group name")?;
        if !is_identifier(&name) {
            return err(format!("bad character in group name '{name}'"), at);
        }
        Ok(name)
    }

    /// Flags after `(?` and `first`: `None` for global flags `(?i)` (which
    /// are applied), `Some((add, del))` for a scoped group `(?i-s:`.
    fn parse_flags(
        &mut self,
        first: char,
        start: usize,
    ) -> Result<Option<(Flags, Flags)>, PatternSyntaxError> {
        let mut add = Flags::default();
        let mut del = Flags::default();
        let mut c = first;
        let mut type_flag: Option<char> = None;
        if c != '-' {
            loop {
                match c {
                    'L' => {
                        return err(
                            "bad inline flag: cannot use 'L' flag with a str pattern",
                            self.pos,
                        );
                    }
                    't' => {
                        return err(
                            "bad inline flag: the 't' (template) flag is not supported",
                            self.pos,
                        );
                    }
                    'a' | 'u' => {
                        if type_flag.is_some_and(|t| t != c) {
                            return err(
                                "bad inline flag: flags 'a', 'u' and 'L' are incompatible",
                                self.pos,
                            );
                        }
                        type_flag = Some(c);
                        add.ascii = c == 'a';
                        add.unicode = c == 'u';
                    }
                    _ => set_flag(&mut add, c),
                }
                let Some(n) = self.next() else {
                    return err("missing -, : or )", self.pos);
                };
                c = n;
                if ")-:".contains(c) {
                    break;
                }
                if !"aiLmsuxt".contains(c) {
                    let msg = if c.is_alphabetic() {
                        "unknown flag"
                    } else {
                        "missing -, : or )"
                    };
                    return err(msg, self.pos - 1);
                }
            }
        }
        if c == ')' {
            let g = &mut self.global;
            g.ignorecase |= add.ignorecase;
            g.multiline |= add.multiline;
            g.dotall |= add.dotall;
            g.verbose |= add.verbose;
            g.ascii |= add.ascii;
            return Ok(None);
        }
        if c == '-' {
            let Some(n) = self.next() else {
                return err("missing flag", self.pos);
            };
            c = n;
            if !"aiLmsuxt".contains(c) {
                let msg = if c.is_alphabetic() {
                    "unknown flag"
                } else {
                    "missing flag"
                };
                return err(msg, self.pos - 1);
            }
            loop {
                if "aLu".contains(c) {
                    return err(
                        "bad inline flag: cannot turn off flags 'a', 'u' and 'L'",
                        self.pos,
                    );
                }
                if c == 't' {
                    return err("bad inline flag: cannot turn off global flag", self.pos);
                }
                set_flag(&mut del, c);
                let Some(n) = self.next() else {
                    return err("missing :", self.pos);
                };
                c = n;
                if c == ':' {
                    break;
                }
                if !"aiLmsuxt".contains(c) {
                    let msg = if c.is_alphabetic() {
                        "unknown flag"
                    } else {
                        "missing :"
                    };
                    return err(msg, self.pos - 1);
                }
            }
        }
        let both = (add.ignorecase && del.ignorecase)
            || (add.multiline && del.multiline)
            || (add.dotall && del.dotall)
            || (add.verbose && del.verbose);
        if both {
            return err("bad inline flag: flag turned on and off", start);
        }
        let _ = start;
        Ok(Some((add, del)))
    }
}

fn set_flag(f: &mut Flags, c: char) {
    match c {
        'i' => f.ignorecase = true,
        'm' => f.multiline = true,
        's' => f.dotall = true,
        'x' => f.verbose = true,
        _ => {}
    }
}

fn apply_flags(base: Flags, add: Flags, del: Flags) -> Flags {
    Flags {
        ignorecase: (base.ignorecase || add.ignorecase) && !del.ignorecase,
        multiline: (base.multiline || add.multiline) && !del.multiline,
        dotall: (base.dotall || add.dotall) && !del.dotall,
        verbose: (base.verbose || add.verbose) && !del.verbose,
        // Python's `_combine_flags`: a group's `a` or `u` replaces the
        // enclosing rule (`(?a)...(?u:\w)` is Unicode's `\w`).
        ascii: if add.unicode {
            false
        } else {
            base.ascii || add.ascii
        },
        unicode: false,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

enum ClassItem {
    Char(u32),
    /// Categories, each possibly negated (`\W`).
    Set(Vec<(Category, bool)>),
    GroupRef(usize),
}

fn add_item(literal: &mut CharSet, cats: &mut Vec<(Category, bool)>, item: ClassItem) {
    match item {
        ClassItem::Char(c) => *literal = literal.union(&CharSet::single(c)),
        ClassItem::Set(s) => cats.extend(s),
        // Not produced inside classes.
        ClassItem::GroupRef(_) => {}
    }
}

/// The text characters a class matches, as `Lib/re/_compiler.py` decides:
/// under IGNORECASE, when the class holds a cased character, a text
/// character matches if its lowercase is in the lowered class (with extra
/// cases) or in one of its categories.
fn class_set(cats: &[(Category, bool)], literal: &CharSet, negate: bool, flags: Flags) -> CharSet {
    let rules = flags.rules();
    let mut cat_set = CharSet::default();
    for &(cat, negated) in cats {
        let s = category(cat, rules);
        cat_set = cat_set.union(&if negated { s.complement() } else { s.clone() });
    }
    let set = if flags.ignorecase && has_cased(literal, rules) {
        preimage(
            &lowered_with_extra_cases(literal, rules).union(&cat_set),
            rules,
        )
    } else {
        literal.union(&cat_set)
    };
    if negate { set.complement() } else { set }
}

/// A backreference; under IGNORECASE the engine compares simple case
/// folds (see the module's known differences).
fn emit_backref(out: &mut String, group: usize, flags: Flags) {
    if flags.ignorecase {
        write!(out, "(?i:\\{group})").unwrap_or(());
    } else {
        write!(out, "(?:\\{group})").unwrap_or(());
    }
}

/// A literal character, with Python's IGNORECASE rule for it.
fn emit_literal(out: &mut String, c: u32, flags: Flags) {
    if (0xD800..=0xDFFF).contains(&c) || flags.ignorecase && is_cased(c, flags.rules()) {
        emit_set(out, &literal_set(c, flags));
    } else {
        push_char(out, c, false);
    }
}

/// The text characters a literal matches: itself, or under IGNORECASE
/// every character whose `lower` is `lower(c)` or one of its extra cases.
fn literal_set(c: u32, flags: Flags) -> CharSet {
    let rules = flags.rules();
    if (0xD800..=0xDFFF).contains(&c) {
        // A lone surrogate never occurs in valid UTF-8 text.
        CharSet::default()
    } else if flags.ignorecase && is_cased(c, rules) {
        let lowered = lowered_with_extra_cases(&CharSet::single(lower(c, rules)), rules);
        preimage(&lowered, rules)
    } else {
        CharSet::single(c)
    }
}

fn literal_node(c: u32, flags: Flags) -> Node {
    let exact = !(flags.ignorecase && is_cased(c, flags.rules()));
    Node::Unit(Unit {
        set: literal_set(c, flags),
        kind: UnitKind::Literal,
        key: class_item_key(&ClassItem::Char(c)),
        search_filter: exact.then(|| CharSet::single(c)),
    })
}

/// One parsed class item as Python's parser writes it, for `Unit::key`.
fn class_item_key(item: &ClassItem) -> String {
    match item {
        ClassItem::Char(c) => format!("L{c}"),
        ClassItem::Set(cats) => cats
            .iter()
            .map(|(cat, negated)| format!("C{cat:?}{}", if *negated { "!" } else { "" }))
            .collect::<Vec<_>>()
            .join(","),
        ClassItem::GroupRef(g) => format!("G{g}"),
    }
}

/// A backreference compares `lower()` of each character under IGNORECASE
/// (`GROUPREF_UNI_IGNORE`, or A–Z only under ASCII), exactly otherwise.
fn backref_node(group: usize, flags: Flags) -> Node {
    Node::Backref {
        group,
        case: flags.ignorecase.then(|| flags.rules()),
    }
}

fn emit_set(out: &mut String, set: &CharSet) {
    out.push_str(&set_text(set));
}

/// The engine's text for a set of characters.
fn set_text(set: &CharSet) -> String {
    let mut out = String::new();
    if set.is_empty() {
        // Matches nothing, yet is a character to the engine (repeatable).
        out.push_str("[^\\x{0}-\\x{10FFFF}]");
        return out;
    }
    if let [(lo, hi)] = set.ranges()
        && lo == hi
    {
        push_char(&mut out, *lo, false);
        return out;
    }
    let complement = set.complement();
    if complement.is_empty() {
        out.push_str("(?s:.)");
        return out;
    }
    let (negated, ranges) = if complement.ranges().len() < set.ranges().len() {
        (true, complement.ranges())
    } else {
        (false, set.ranges())
    };
    out.push('[');
    if negated {
        out.push('^');
    }
    for &(lo, hi) in ranges {
        push_char(&mut out, lo, true);
        if hi != lo {
            if hi > lo + 1 {
                out.push('-');
            }
            push_char(&mut out, hi, true);
        }
    }
    out.push(']');
    out
}

/// One character, escaped unless it is an ASCII letter or digit.
fn push_char(out: &mut String, c: u32, _in_class: bool) {
    match char::from_u32(c) {
        Some(ch) if ch.is_ascii_alphanumeric() => out.push(ch),
        _ => write!(out, "\\x{{{c:X}}}").unwrap_or(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> String {
        translate(p).unwrap_or_else(|e| panic!("{p}: {e}")).pattern
    }

    #[test]
    fn python_errors_are_reported_as_python_reports_them() {
        for (p, msg) in [
            ("(unclosed", "missing ), unterminated subpattern"),
            ("a)", "unbalanced parenthesis"),
            ("*a", "nothing to repeat"),
            ("a**", "multiple repeat"),
            ("^*", "nothing to repeat"),
            ("a{3,2}", "min repeat greater than max repeat"),
            ("\\q", "bad escape \\q"),
            ("[z-a]", "bad character range z-a"),
            ("(?P<1a>x)", "bad character in group name '1a'"),
            ("(?P=nope)", "unknown group name 'nope'"),
            ("(a)\\2", "invalid group reference 2"),
            ("(a\\1)", "cannot refer to an open group"),
            ("a(?i)b", "global flags not at the start of the expression"),
            ("[abc", "unterminated character set"),
        ] {
            let e = translate(p).expect_err(p).0;
            assert!(e.starts_with(msg), "{p}: {e}");
        }
    }

    #[test]
    fn python_only_syntax_is_translated() {
        assert!(ok("a{,3}").contains("{0,3}"));
        assert!(ok("a{").contains("\\x{7B}"));
        assert!(ok("{}").contains("\\x{7B}"));
        assert_eq!(
            translate("(?P<word>\\w+) (?P=word)").unwrap().names,
            vec![("word".to_owned(), 1)]
        );
        assert!(ok("(?x) a b # comment\n c").contains('c'));
    }
}
