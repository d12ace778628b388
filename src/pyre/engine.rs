//! The matcher: runs a parsed pattern (`tree::Node`) with the semantics of
//! CPython's `_sre` (3.11), within a budget of steps.
//!
//! The tree is compiled to a small program shaped like `_sre`'s code
//! (`Lib/re/_compiler.py`): single-character repeats get their own
//! instructions, other repeats a repeat record with an "until" instruction,
//! alternatives a branch, groups a pair of marks. The machine then keeps the
//! state `_sre` keeps and changes it at the same moments, because Python's
//! results (which groups are set, to what) follow from those moments:
//!
//! - captures live in a mark array with a "last mark" index; marks above it
//!   count as unset, and lowering it is how a failed path forgets groups.
//!   The full mark array is saved and restored only where `_sre` does it
//!   (around each iteration of a general repeat, and around alternatives
//!   and single-character repeats only inside one). Elsewhere a mark set
//!   on a path that failed keeps its value, as in Python: a conditional on
//!   an enclosing group can see it, and a group can even end up ending
//!   before it starts, where CPython raises `SystemError` (reported by
//!   `Captures::python_raises`);
//! - which repeats count as single-character ones is Python's decision
//!   (`_simple`, after `_parser` folds alternatives of characters into a
//!   class and splices plain groups), computed on the tree;
//! - a general repeat stops iterating when an iteration starts where the
//!   previous one did, *after* running that empty iteration, so
//!   `(?P<g>a*)*` on "a" leaves `g` empty, as Python does;
//! - lookarounds, atomic groups and possessive repeats run their body as a
//!   sub-match that keeps its first success;
//! - the search tries start positions left to right, forgetting all marks
//!   between them, and skips the ones `_sre`'s search skips: too close to
//!   the end for the pattern's minimum width, or (for some patterns) not
//!   starting with a character of the first item's class as Python builds
//!   it, with the global ASCII/Unicode rule (`tree::Unit::search_filter`).
//!
//! Backtracking uses an explicit stack of suspended contexts (no recursion),
//! so neither long texts nor deeply nested patterns exhaust the thread's
//! stack. Every instruction executed, every character tested by a repeat or
//! a backreference, every mark saved and every return to a suspended
//! context counts one step; past the budget the search stops with
//! `BudgetExceeded`. Memory is bounded by the budget too (each suspended
//! context and each saved mark costs at least one step) and by fixed caps
//! (`MAX_SUSPENDED`, `MAX_SAVED_MARKS`).

use std::ops::Range;

use super::charset::{CaseRules, Category, CharSet, category, lower};
use super::tree::{At, Node, RepeatMode, UNBOUNDED};
use super::{PatternSyntaxError, Translated, translate};

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Op>,
    sets: Vec<CharSet>,
    groups: usize,
    names: Vec<(String, usize)>,
    /// No match is tried where fewer characters are left.
    min_width: usize,
    /// No match is tried where the character is not in this set.
    first: Option<CharSet>,
}

/// The search ran out of steps before it could decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetExceeded {
    pub steps: u64,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the pattern needed more than {} steps", self.steps)
    }
}

/// A match: spans in Python's group numbering (0 is the whole match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captures {
    /// Character offsets (what Python's `span()` reports).
    chars: Vec<Option<(usize, usize)>>,
    /// Byte offsets into the text.
    bytes: Vec<Option<Range<usize>>>,
}

impl Captures {
    /// The byte range of group `i` (0 for the whole match), `None` when the
    /// group did not take part (or does not exist).
    pub fn get(&self, i: usize) -> Option<Range<usize>> {
        self.bytes.get(i).cloned().flatten()
    }

    /// The character span of group `i`, as Python's `m.span(i)` (for
    /// every group, including one that ends before it starts: see
    /// `python_raises`).
    pub fn char_span(&self, i: usize) -> Option<(usize, usize)> {
        self.chars.get(i).copied().flatten()
    }

    /// Whether CPython raises `SystemError("The span of capturing group is
    /// wrong, please report a bug for the re module.")` instead of
    /// returning this match: `_sre` can leave a group whose end mark is
    /// before its start (marks of a path it backtracked out of), and
    /// refuses to build such a match object.
    pub fn python_raises(&self) -> bool {
        self.chars.iter().flatten().any(|&(a, b)| a > b)
    }

    /// The number of groups, including group 0.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Regex {
    /// Compiles `pattern` as `re.compile(pattern, re.IGNORECASE)` does.
    pub fn new(pattern: &str) -> Result<Regex, PatternSyntaxError> {
        Ok(Regex::from_translated(&translate(pattern)?))
    }

    pub fn from_translated(t: &Translated) -> Regex {
        let mut c = Compiler {
            prog: Vec::new(),
            sets: Vec::new(),
        };
        c.emit(&t.tree);
        c.prog.push(Op::Success);
        Regex {
            prog: c.prog,
            sets: c.sets,
            groups: t.groups,
            names: t.names.clone(),
            min_width: usize::try_from(t.min_width).unwrap_or(usize::MAX),
            first: t.tree.search_filter(t.min_width),
        }
    }

    /// Named groups in order of appearance: (name, group number).
    pub fn names(&self) -> &[(String, usize)] {
        &self.names
    }

    /// The number of capturing groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// `match.groupdict()`: each named group's text, `None` when it did
    /// not take part.
    pub fn groupdict<'t>(&self, m: &Captures, text: &'t str) -> Vec<(&str, Option<&'t str>)> {
        self.names
            .iter()
            .map(|(name, g)| (name.as_str(), m.get(*g).map(|r| &text[r])))
            .collect()
    }

    /// The kinds of repeat instructions in program order, named as
    /// `_sre`'s opcodes (for tests that compare them with CPython's).
    #[doc(hidden)]
    pub fn repeat_shapes(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for op in &self.prog {
            match op {
                Op::RepeatOne { mode, .. } => out.push(match mode {
                    RepeatMode::Greedy => "REPEAT_ONE",
                    RepeatMode::Lazy => "MIN_REPEAT_ONE",
                    RepeatMode::Possessive => "POSSESSIVE_REPEAT_ONE",
                }),
                Op::Repeat { until, .. } => out.push(match self.prog[*until] {
                    Op::MinUntil => "MIN_REPEAT",
                    _ => "REPEAT",
                }),
                Op::PossRepeat { .. } => out.push("POSSESSIVE_REPEAT"),
                _ => {}
            }
        }
        out
    }

    /// `re.search`: the leftmost match, within `budget` steps.
    pub fn search(&self, text: &str, budget: u64) -> Result<Option<Captures>, BudgetExceeded> {
        self.search_counted(text, budget).0
    }

    /// `search`, also returning the steps it took.
    pub fn search_counted(
        &self,
        text: &str,
        budget: u64,
    ) -> (Result<Option<Captures>, BudgetExceeded>, u64) {
        let chars: Vec<char> = text.chars().collect();
        let mut vm = Vm {
            prog: &self.prog,
            sets: &self.sets,
            text: &chars,
            marks: vec![NONE; 2 * self.groups],
            lastmark: -1,
            reps: Vec::new(),
            repeat: None,
            state_ptr: 0,
            stack: Vec::new(),
            data: Vec::new(),
            steps: 0,
            budget,
        };
        let result = (|| {
            // `re.search` tries no position where fewer characters than the
            // pattern needs are left, nor one whose character is not in
            // its first-character set (which is not always the pattern's
            // own reading: see `Unit::search_filter`).
            let Some(last) = chars.len().checked_sub(self.min_width) else {
                return Ok(None);
            };
            for start in 0..=last {
                if let Some(first) = &self.first {
                    vm.tick(1)?;
                    if !chars.get(start).is_some_and(|&c| first.contains(c as u32)) {
                        continue;
                    }
                }
                vm.lastmark = -1;
                vm.repeat = None;
                vm.reps.clear();
                vm.stack.clear();
                vm.data.clear();
                if vm.run(0, start)? {
                    return Ok(Some(vm.captures(text, &chars, start)));
                }
            }
            Ok(None)
        })();
        (result, vm.steps)
    }
}

/// An unset mark.
const NONE: usize = usize::MAX;

/// At most this many suspended contexts (64 bytes each) and saved marks
/// (8 bytes each): whatever the budget, a search holds at most about
/// 128 MiB. Past either, the search stops as if out of budget.
const MAX_SUSPENDED: usize = 1 << 20;
const MAX_SAVED_MARKS: usize = 8 << 20;

#[derive(Debug, Clone)]
enum Op {
    /// One character, exactly.
    Char(u32),
    /// One character from `sets[i]`.
    Set(usize),
    At(At),
    /// Set mark `i` (group `i / 2 + 1`, start if even, end if odd).
    Mark(usize),
    /// Alternatives starting at these instructions; each ends with a jump
    /// past the last.
    Branch(Vec<usize>),
    Jump(usize),
    /// A repeat of one character from `sets[set]`; the tail follows.
    RepeatOne {
        min: u64,
        max: u64,
        set: usize,
        mode: RepeatMode,
    },
    /// A general greedy or lazy repeat: the body follows, ending at the
    /// `MaxUntil`/`MinUntil` at `until`; the tail follows that.
    Repeat {
        min: u64,
        max: u64,
        until: usize,
    },
    MaxUntil,
    MinUntil,
    /// A possessive repeat: the body follows, ending with `Success`; the
    /// tail is at `next`.
    PossRepeat {
        min: u64,
        max: u64,
        next: usize,
    },
    /// An atomic group: the body follows, ending with `Success`.
    Atomic {
        next: usize,
    },
    /// A lookaround: the body follows (started `back` characters earlier),
    /// ending with `Success`.
    Assert {
        back: u64,
        negate: bool,
        next: usize,
    },
    /// A backreference to the group with marks `2g` and `2g + 1`.
    GroupRef {
        g: usize,
        case: Option<CaseRules>,
    },
    /// A conditional: the "yes" branch follows, the "no" one is at `no`.
    GroupRefExists {
        g: usize,
        no: usize,
    },
    Success,
}

struct Compiler {
    prog: Vec<Op>,
    sets: Vec<CharSet>,
}

impl Compiler {
    fn push(&mut self, op: Op) -> usize {
        self.prog.push(op);
        self.prog.len() - 1
    }

    fn set(&mut self, set: CharSet) -> usize {
        self.sets.push(set);
        self.sets.len() - 1
    }

    fn unit(&mut self, set: &CharSet) -> Op {
        match set.ranges() {
            [(lo, hi)] if lo == hi => Op::Char(*lo),
            _ => Op::Set(self.set(set.clone())),
        }
    }

    /// Emits `node`. Recursion here is as deep as the pattern's nesting,
    /// which the parser (recursive too) has already gone through.
    fn emit(&mut self, node: &Node) {
        match node {
            Node::Concat(items) => {
                for item in items {
                    self.emit(item);
                }
            }
            Node::Alt(branches) => {
                let at = self.push(Op::Branch(Vec::new()));
                let mut starts = Vec::new();
                let mut jumps = Vec::new();
                for b in branches {
                    starts.push(self.prog.len());
                    self.emit(b);
                    jumps.push(self.push(Op::Jump(0)));
                }
                let end = self.prog.len();
                for j in jumps {
                    self.prog[j] = Op::Jump(end);
                }
                self.prog[at] = Op::Branch(starts);
            }
            Node::Unit(u) => {
                let op = self.unit(&u.set);
                self.push(op);
            }
            Node::At(a) => {
                self.push(Op::At(*a));
            }
            Node::Group { index, body, .. } => match index {
                Some(g) => {
                    self.push(Op::Mark(2 * (g - 1)));
                    self.emit(body);
                    self.push(Op::Mark(2 * (g - 1) + 1));
                }
                None => self.emit(body),
            },
            Node::Repeat {
                min,
                max,
                mode,
                body,
            } => {
                let (min, max) = (*min, *max);
                if let Some(set) = body.single_unit() {
                    let set = self.set(set);
                    self.push(Op::RepeatOne {
                        min,
                        max,
                        set,
                        mode: *mode,
                    });
                } else if *mode == RepeatMode::Possessive {
                    let at = self.push(Op::PossRepeat { min, max, next: 0 });
                    self.emit(body);
                    self.push(Op::Success);
                    let next = self.prog.len();
                    self.prog[at] = Op::PossRepeat { min, max, next };
                } else {
                    let at = self.push(Op::Repeat { min, max, until: 0 });
                    self.emit(body);
                    let until = self.push(if *mode == RepeatMode::Lazy {
                        Op::MinUntil
                    } else {
                        Op::MaxUntil
                    });
                    self.prog[at] = Op::Repeat { min, max, until };
                }
            }
            Node::Look { negate, back, body } => {
                let at = self.push(Op::Success);
                self.emit(body);
                self.push(Op::Success);
                let next = self.prog.len();
                self.prog[at] = Op::Assert {
                    back: *back,
                    negate: *negate,
                    next,
                };
            }
            Node::Atomic(body) => {
                let at = self.push(Op::Success);
                self.emit(body);
                self.push(Op::Success);
                let next = self.prog.len();
                self.prog[at] = Op::Atomic { next };
            }
            Node::Backref { group, case } => {
                self.push(Op::GroupRef {
                    g: group - 1,
                    case: *case,
                });
            }
            Node::Cond { group, yes, no } => {
                let at = self.push(Op::Success);
                self.emit(yes);
                let jump = self.push(Op::Jump(0));
                let no_at = self.prog.len();
                self.emit(no);
                let end = self.prog.len();
                self.prog[jump] = Op::Jump(end);
                self.prog[at] = Op::GroupRefExists {
                    g: group - 1,
                    no: no_at,
                };
            }
        }
    }
}

/// A general repeat in progress (`_sre`'s `SRE_REPEAT`).
struct Rep {
    /// Iterations done so far (-1 before the first "until").
    count: i64,
    min: u64,
    max: u64,
    body: usize,
    /// Where the iteration in progress started (zero-width protection).
    last_ptr: usize,
    /// The enclosing repeat.
    prev: Option<usize>,
}

/// Saved captures: the last mark and, when the marks were copied, where
/// on the data stack.
#[derive(Clone, Copy)]
struct Saved {
    lastmark: isize,
    at: Option<usize>,
}

/// A suspended context, waiting for the result of the one it started.
enum Frame {
    Branch {
        pc: usize,
        ptr: usize,
        alt: usize,
        saved: Saved,
    },
    /// Greedy single-character repeat, at `count` characters.
    RepeatOne {
        pc: usize,
        start: usize,
        count: usize,
        saved: Saved,
    },
    MinRepeatOne {
        pc: usize,
        ptr: usize,
        count: usize,
        saved: Saved,
    },
    Repeat {
        rep: usize,
    },
    /// An iteration needed to reach the minimum (greedy or lazy).
    UntilMin {
        ptr: usize,
        count: i64,
        rep: usize,
    },
    MaxUntilMore {
        pc: usize,
        ptr: usize,
        count: i64,
        rep: usize,
        saved: Saved,
        last_ptr: usize,
    },
    MaxUntilTail {
        ptr: usize,
        rep: usize,
    },
    MinUntilTail {
        ptr: usize,
        count: i64,
        rep: usize,
        saved: Saved,
    },
    MinUntilMore {
        ptr: usize,
        count: i64,
        rep: usize,
        last_ptr: usize,
    },
    PossMin {
        pc: usize,
        ptr: usize,
        count: u64,
    },
    PossMore {
        pc: usize,
        count: u64,
        /// Where this iteration started.
        from: usize,
        saved: Saved,
    },
    Atomic {
        pc: usize,
        ptr: usize,
    },
    Assert {
        pc: usize,
        ptr: usize,
    },
    AssertNot {
        pc: usize,
        ptr: usize,
        saved: Saved,
    },
}

struct Vm<'a> {
    prog: &'a [Op],
    sets: &'a [CharSet],
    text: &'a [char],
    marks: Vec<usize>,
    /// The highest mark index in use; marks above it are unset.
    lastmark: isize,
    reps: Vec<Rep>,
    /// The innermost general repeat whose body is running.
    repeat: Option<usize>,
    /// Where the last successful sub-match ended (`state->ptr`).
    state_ptr: usize,
    stack: Vec<Frame>,
    /// Saved marks.
    data: Vec<usize>,
    steps: u64,
    budget: u64,
}

impl Vm<'_> {
    fn tick(&mut self, n: u64) -> Result<(), BudgetExceeded> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.budget
            || self.stack.len() > MAX_SUSPENDED
            || self.data.len() > MAX_SAVED_MARKS
        {
            Err(BudgetExceeded { steps: self.budget })
        } else {
            Ok(())
        }
    }

    /// Whether a character instruction matches at `ptr`; true for any
    /// other instruction (used to skip tails that would fail at once).
    fn test(&self, op: &Op, ptr: usize) -> bool {
        let ch = self.text.get(ptr).map(|&c| c as u32);
        match op {
            Op::Char(c) => ch == Some(*c),
            Op::Set(s) => ch.is_some_and(|ch| self.sets[*s].contains(ch)),
            _ => true,
        }
    }

    /// How many characters from `ptr` are in `sets[set]`, up to `max`.
    fn count(&mut self, set: usize, ptr: usize, max: u64) -> Result<usize, BudgetExceeded> {
        let limit = (self.text.len() - ptr).min(usize::try_from(max).unwrap_or(usize::MAX));
        // Never test more characters than the budget has steps left.
        let left = usize::try_from(self.budget.saturating_sub(self.steps)).unwrap_or(usize::MAX);
        let limit = limit.min(left);
        let set = &self.sets[set];
        let n = self.text[ptr..ptr + limit]
            .iter()
            .take_while(|&&c| set.contains(c as u32))
            .count();
        self.tick(n as u64 + 1)?;
        Ok(n)
    }

    /// LASTMARK_SAVE, plus MARK_PUSH when `copy`.
    fn save(&mut self, copy: bool) -> Result<Saved, BudgetExceeded> {
        let lastmark = self.lastmark;
        let at = if copy && lastmark >= 0 {
            let n = (lastmark + 1) as usize;
            self.tick(n as u64)?;
            let at = self.data.len();
            self.data.extend_from_slice(&self.marks[..n]);
            Some(at)
        } else {
            None
        };
        Ok(Saved { lastmark, at })
    }

    /// Copies the saved marks back (MARK_POP_KEEP) and the last mark.
    fn restore(&mut self, s: Saved) {
        if let Some(at) = s.at {
            let n = (s.lastmark + 1) as usize;
            self.marks[..n].copy_from_slice(&self.data[at..at + n]);
        }
        self.lastmark = s.lastmark;
    }

    /// Drops the saved marks (MARK_POP_DISCARD).
    fn discard(&mut self, s: Saved) {
        if let Some(at) = s.at {
            self.data.truncate(at);
        }
    }

    fn at(&self, at: At, ptr: usize) -> bool {
        let text = self.text;
        let n = text.len();
        let word = |ascii: bool, i: usize| {
            let rules = if ascii {
                CaseRules::Ascii
            } else {
                CaseRules::Unicode
            };
            category(Category::Word, rules).contains(text[i] as u32)
        };
        match at {
            At::Beginning => ptr == 0,
            At::BeginningLine => ptr == 0 || text[ptr - 1] == '\n',
            At::End => ptr == n || (ptr + 1 == n && text[ptr] == '\n'),
            At::EndLine => ptr == n || text[ptr] == '\n',
            At::EndString => ptr == n,
            At::Boundary { ascii } | At::NonBoundary { ascii } => {
                if n == 0 {
                    return false;
                }
                let before = ptr > 0 && word(ascii, ptr - 1);
                let here = ptr < n && word(ascii, ptr);
                (before != here) == matches!(at, At::Boundary { .. })
            }
        }
    }

    /// The group's span if it is set, as `_sre` decides it.
    fn group(&self, g: usize) -> Option<(usize, usize)> {
        if (2 * g) as isize >= self.lastmark {
            return None;
        }
        let (p, e) = (self.marks[2 * g], self.marks[2 * g + 1]);
        (p != NONE && e != NONE && e >= p).then_some((p, e))
    }

    /// Greedy single-character repeat: tries the tail after `count`
    /// characters, skipping counts where the tail's first character test
    /// would fail at once. `None` when no count is left.
    fn repeat_one_try(
        &mut self,
        pc: usize,
        start: usize,
        mut count: usize,
        min: usize,
        saved: Saved,
    ) -> Result<Option<usize>, BudgetExceeded> {
        let next = &self.prog[pc + 1];
        let mut skipped = 0u64;
        let left = self.budget.saturating_sub(self.steps);
        while count >= min && !self.test(next, start + count) {
            if count == 0 || skipped > left {
                self.tick(skipped)?;
                return Ok(None);
            }
            count -= 1;
            skipped += 1;
        }
        self.tick(skipped)?;
        if count < min {
            return Ok(None);
        }
        self.stack.push(Frame::RepeatOne {
            pc,
            start,
            count,
            saved,
        });
        Ok(Some(start + count))
    }

    /// Matches from `pc` at `ptr` until the outcome is known: `_sre`'s
    /// `SRE(match)`, with its contexts on `self.stack`.
    fn run(&mut self, pc0: usize, ptr0: usize) -> Result<bool, BudgetExceeded> {
        let prog = self.prog;
        let n = self.text.len();
        let mut pc = pc0;
        let mut ptr = ptr0;
        'dispatch: loop {
            // Run the current context until it returns.
            let mut ret: bool = loop {
                self.tick(1)?;
                match &prog[pc] {
                    op @ (Op::Char(_) | Op::Set(_)) => {
                        if self.test(op, ptr) {
                            ptr += 1;
                            pc += 1;
                        } else {
                            break false;
                        }
                    }
                    Op::At(a) => {
                        if self.at(*a, ptr) {
                            pc += 1;
                        } else {
                            break false;
                        }
                    }
                    Op::Mark(i) => {
                        let i = *i;
                        if i as isize > self.lastmark {
                            // Marks skipped over are unset, not stale.
                            for j in (self.lastmark + 1) as usize..i {
                                self.marks[j] = NONE;
                            }
                            self.lastmark = i as isize;
                        }
                        self.marks[i] = ptr;
                        pc += 1;
                    }
                    Op::Jump(to) => pc = *to,
                    Op::Branch(alts) => {
                        let saved = self.save(self.repeat.is_some())?;
                        self.stack.push(Frame::Branch {
                            pc,
                            ptr,
                            alt: 0,
                            saved,
                        });
                        pc = alts[0];
                    }
                    Op::RepeatOne {
                        min,
                        max,
                        set,
                        mode,
                    } => {
                        let min_us = usize::try_from(*min).unwrap_or(usize::MAX);
                        if min_us > n - ptr {
                            break false;
                        }
                        match mode {
                            RepeatMode::Greedy => {
                                let count = self.count(*set, ptr, *max)?;
                                if count < min_us {
                                    break false;
                                }
                                let saved = self.save(self.repeat.is_some())?;
                                match self.repeat_one_try(pc, ptr, count, min_us, saved)? {
                                    Some(p) => {
                                        ptr = p;
                                        pc += 1;
                                    }
                                    None => {
                                        self.discard(saved);
                                        break false;
                                    }
                                }
                            }
                            RepeatMode::Lazy => {
                                let count = if min_us == 0 {
                                    0
                                } else {
                                    let c = self.count(*set, ptr, *min)?;
                                    if c < min_us {
                                        break false;
                                    }
                                    c
                                };
                                ptr += count;
                                let saved = self.save(self.repeat.is_some())?;
                                self.stack.push(Frame::MinRepeatOne {
                                    pc,
                                    ptr,
                                    count,
                                    saved,
                                });
                                pc += 1;
                            }
                            RepeatMode::Possessive => {
                                let count = self.count(*set, ptr, *max)?;
                                if count < min_us {
                                    break false;
                                }
                                ptr += count;
                                pc += 1;
                            }
                        }
                    }
                    Op::Repeat { min, max, until } => {
                        self.reps.push(Rep {
                            count: -1,
                            min: *min,
                            max: *max,
                            body: pc + 1,
                            last_ptr: NONE,
                            prev: self.repeat,
                        });
                        let rep = self.reps.len() - 1;
                        self.repeat = Some(rep);
                        self.stack.push(Frame::Repeat { rep });
                        pc = *until;
                    }
                    Op::MaxUntil => {
                        let rep = self.repeat.expect("until inside a repeat");
                        self.state_ptr = ptr;
                        let count = self.reps[rep].count + 1;
                        let r = &self.reps[rep];
                        if (count as u64) < r.min {
                            self.reps[rep].count = count;
                            self.stack.push(Frame::UntilMin { ptr, count, rep });
                            pc = self.reps[rep].body;
                            continue;
                        }
                        if ((count as u64) < r.max || r.max == UNBOUNDED) && ptr != r.last_ptr {
                            self.reps[rep].count = count;
                            let saved = self.save(true)?;
                            let last_ptr = self.reps[rep].last_ptr;
                            self.reps[rep].last_ptr = ptr;
                            self.stack.push(Frame::MaxUntilMore {
                                pc,
                                ptr,
                                count,
                                rep,
                                saved,
                                last_ptr,
                            });
                            pc = self.reps[rep].body;
                            continue;
                        }
                        self.repeat = self.reps[rep].prev;
                        self.stack.push(Frame::MaxUntilTail { ptr, rep });
                        pc += 1;
                    }
                    Op::MinUntil => {
                        let rep = self.repeat.expect("until inside a repeat");
                        self.state_ptr = ptr;
                        let count = self.reps[rep].count + 1;
                        if (count as u64) < self.reps[rep].min {
                            self.reps[rep].count = count;
                            self.stack.push(Frame::UntilMin { ptr, count, rep });
                            pc = self.reps[rep].body;
                            continue;
                        }
                        self.repeat = self.reps[rep].prev;
                        let saved = self.save(self.repeat.is_some())?;
                        self.stack.push(Frame::MinUntilTail {
                            ptr,
                            count,
                            rep,
                            saved,
                        });
                        pc += 1;
                    }
                    Op::PossRepeat { min, .. } => {
                        self.state_ptr = ptr;
                        if *min > 0 {
                            self.stack.push(Frame::PossMin { pc, ptr, count: 0 });
                            pc += 1;
                        } else {
                            match self.poss_more(pc, 0, NONE)? {
                                Some(p) => {
                                    ptr = p;
                                    pc += 1;
                                }
                                None => {
                                    let Op::PossRepeat { next, .. } = prog[pc] else {
                                        unreachable!()
                                    };
                                    ptr = self.state_ptr;
                                    pc = next;
                                }
                            }
                        }
                    }
                    Op::Atomic { .. } => {
                        self.state_ptr = ptr;
                        self.stack.push(Frame::Atomic { pc, ptr });
                        pc += 1;
                    }
                    Op::Assert { back, negate, next } => {
                        let back = usize::try_from(*back).unwrap_or(usize::MAX);
                        if !*negate {
                            if ptr < back {
                                break false;
                            }
                            self.stack.push(Frame::Assert { pc, ptr });
                            ptr -= back;
                            pc += 1;
                        } else if ptr >= back {
                            let saved = self.save(self.repeat.is_some())?;
                            self.stack.push(Frame::AssertNot { pc, ptr, saved });
                            ptr -= back;
                            pc += 1;
                        } else {
                            pc = *next;
                        }
                    }
                    Op::GroupRef { g, case } => {
                        let Some((p, e)) = self.group(*g) else {
                            break false;
                        };
                        self.tick((e - p) as u64)?;
                        if e - p > n - ptr {
                            break false;
                        }
                        let text = self.text;
                        let same = (0..e - p).all(|k| {
                            let (a, b) = (text[ptr + k] as u32, text[p + k] as u32);
                            match case {
                                None => a == b,
                                Some(rules) => lower(a, *rules) == lower(b, *rules),
                            }
                        });
                        if !same {
                            break false;
                        }
                        ptr += e - p;
                        pc += 1;
                    }
                    Op::GroupRefExists { g, no } => {
                        pc = if self.group(*g).is_some() {
                            pc + 1
                        } else {
                            *no
                        };
                    }
                    Op::Success => {
                        self.state_ptr = ptr;
                        break true;
                    }
                }
            };

            // Hand the outcome back to the suspended contexts until one of
            // them starts or continues matching.
            loop {
                let Some(frame) = self.stack.pop() else {
                    return Ok(ret);
                };
                self.tick(1)?;
                match frame {
                    Frame::Branch {
                        pc: bpc,
                        ptr: bptr,
                        alt,
                        saved,
                    } => {
                        if ret {
                            self.discard(saved);
                            continue;
                        }
                        self.restore(saved);
                        let Op::Branch(alts) = &prog[bpc] else {
                            unreachable!()
                        };
                        if alt + 1 < alts.len() {
                            self.stack.push(Frame::Branch {
                                pc: bpc,
                                ptr: bptr,
                                alt: alt + 1,
                                saved,
                            });
                            pc = alts[alt + 1];
                            ptr = bptr;
                            continue 'dispatch;
                        }
                        self.discard(saved);
                    }
                    Frame::RepeatOne {
                        pc: rpc,
                        start,
                        count,
                        saved,
                    } => {
                        if ret {
                            self.discard(saved);
                            continue;
                        }
                        self.restore(saved);
                        let Op::RepeatOne { min, .. } = prog[rpc] else {
                            unreachable!()
                        };
                        let min = usize::try_from(min).unwrap_or(usize::MAX);
                        if count > min
                            && let Some(p) =
                                self.repeat_one_try(rpc, start, count - 1, min, saved)?
                        {
                            pc = rpc + 1;
                            ptr = p;
                            continue 'dispatch;
                        }
                        self.discard(saved);
                    }
                    Frame::MinRepeatOne {
                        pc: rpc,
                        ptr: rptr,
                        count,
                        saved,
                    } => {
                        if ret {
                            self.discard(saved);
                            continue;
                        }
                        self.restore(saved);
                        let Op::RepeatOne { max, .. } = prog[rpc] else {
                            unreachable!()
                        };
                        self.tick(1)?;
                        let set_op = match &prog[rpc] {
                            Op::RepeatOne { set, .. } => Op::Set(*set),
                            _ => unreachable!(),
                        };
                        if self.test(&set_op, rptr) && (max == UNBOUNDED || (count as u64) < max) {
                            self.stack.push(Frame::MinRepeatOne {
                                pc: rpc,
                                ptr: rptr + 1,
                                count: count + 1,
                                saved,
                            });
                            pc = rpc + 1;
                            ptr = rptr + 1;
                            continue 'dispatch;
                        }
                        self.discard(saved);
                    }
                    Frame::Repeat { rep } => {
                        self.repeat = self.reps[rep].prev;
                        debug_assert_eq!(rep + 1, self.reps.len());
                        self.reps.pop();
                    }
                    Frame::UntilMin {
                        ptr: uptr,
                        count,
                        rep,
                    } => {
                        if !ret {
                            self.reps[rep].count = count - 1;
                            self.state_ptr = uptr;
                        }
                    }
                    Frame::MaxUntilMore {
                        pc: upc,
                        ptr: uptr,
                        count,
                        rep,
                        saved,
                        last_ptr,
                    } => {
                        self.reps[rep].last_ptr = last_ptr;
                        if ret {
                            self.discard(saved);
                            continue;
                        }
                        self.restore(saved);
                        self.discard(saved);
                        self.reps[rep].count = count - 1;
                        self.state_ptr = uptr;
                        // No further iteration here: the tail must match.
                        self.repeat = self.reps[rep].prev;
                        self.stack.push(Frame::MaxUntilTail { ptr: uptr, rep });
                        pc = upc + 1;
                        ptr = uptr;
                        continue 'dispatch;
                    }
                    Frame::MaxUntilTail { ptr: uptr, rep } => {
                        self.repeat = Some(rep);
                        if !ret {
                            self.state_ptr = uptr;
                        }
                    }
                    Frame::MinUntilTail {
                        ptr: uptr,
                        count,
                        rep,
                        saved,
                    } => {
                        self.repeat = Some(rep);
                        if ret {
                            self.discard(saved);
                            continue;
                        }
                        self.restore(saved);
                        self.discard(saved);
                        self.state_ptr = uptr;
                        let r = &self.reps[rep];
                        if ((count as u64) >= r.max && r.max != UNBOUNDED) || uptr == r.last_ptr {
                            continue;
                        }
                        self.reps[rep].count = count;
                        let last_ptr = self.reps[rep].last_ptr;
                        self.reps[rep].last_ptr = uptr;
                        self.stack.push(Frame::MinUntilMore {
                            ptr: uptr,
                            count,
                            rep,
                            last_ptr,
                        });
                        pc = self.reps[rep].body;
                        ptr = uptr;
                        continue 'dispatch;
                    }
                    Frame::MinUntilMore {
                        ptr: uptr,
                        count,
                        rep,
                        last_ptr,
                    } => {
                        self.reps[rep].last_ptr = last_ptr;
                        if !ret {
                            self.reps[rep].count = count - 1;
                            self.state_ptr = uptr;
                        }
                    }
                    Frame::PossMin {
                        pc: ppc,
                        ptr: pptr,
                        count,
                    } => {
                        if !ret {
                            self.state_ptr = pptr;
                            continue;
                        }
                        let count = count + 1;
                        let Op::PossRepeat { min, next, .. } = prog[ppc] else {
                            unreachable!()
                        };
                        if count < min {
                            self.stack.push(Frame::PossMin {
                                pc: ppc,
                                ptr: pptr,
                                count,
                            });
                            pc = ppc + 1;
                            ptr = self.state_ptr;
                            continue 'dispatch;
                        }
                        match self.poss_more(ppc, count, NONE)? {
                            Some(p) => {
                                pc = ppc + 1;
                                ptr = p;
                            }
                            None => {
                                pc = next;
                                ptr = self.state_ptr;
                            }
                        }
                        continue 'dispatch;
                    }
                    Frame::PossMore {
                        pc: ppc,
                        count,
                        from,
                        saved,
                    } => {
                        let Op::PossRepeat { next, .. } = prog[ppc] else {
                            unreachable!()
                        };
                        if ret {
                            self.discard(saved);
                            if let Some(p) = self.poss_more(ppc, count + 1, from)? {
                                pc = ppc + 1;
                                ptr = p;
                                continue 'dispatch;
                            }
                        } else {
                            self.restore(saved);
                            self.discard(saved);
                            self.state_ptr = from;
                        }
                        pc = next;
                        ptr = self.state_ptr;
                        continue 'dispatch;
                    }
                    Frame::Atomic { pc: apc, ptr: aptr } => {
                        if !ret {
                            self.state_ptr = aptr;
                            continue;
                        }
                        let Op::Atomic { next } = prog[apc] else {
                            unreachable!()
                        };
                        pc = next;
                        ptr = self.state_ptr;
                        continue 'dispatch;
                    }
                    Frame::Assert { pc: apc, ptr: aptr } => {
                        if !ret {
                            continue;
                        }
                        let Op::Assert { next, .. } = prog[apc] else {
                            unreachable!()
                        };
                        pc = next;
                        ptr = aptr;
                        continue 'dispatch;
                    }
                    Frame::AssertNot {
                        pc: apc,
                        ptr: aptr,
                        saved,
                    } => {
                        if ret {
                            self.discard(saved);
                            ret = false;
                            continue;
                        }
                        self.restore(saved);
                        self.discard(saved);
                        let Op::Assert { next, .. } = prog[apc] else {
                            unreachable!()
                        };
                        pc = next;
                        ptr = aptr;
                        continue 'dispatch;
                    }
                }
            }
        }
    }

    /// The possessive repeat at `pc` has matched `count` times, the last
    /// iteration starting at `prev`: starts another iteration (returning
    /// where) if the maximum allows and the last one consumed text.
    fn poss_more(
        &mut self,
        pc: usize,
        count: u64,
        prev: usize,
    ) -> Result<Option<usize>, BudgetExceeded> {
        let Op::PossRepeat { max, .. } = self.prog[pc] else {
            unreachable!()
        };
        if (count < max || max == UNBOUNDED) && self.state_ptr != prev {
            let saved = self.save(true)?;
            let from = self.state_ptr;
            self.stack.push(Frame::PossMore {
                pc,
                count,
                from,
                saved,
            });
            return Ok(Some(from));
        }
        Ok(None)
    }

    fn captures(&self, text: &str, chars: &[char], start: usize) -> Captures {
        let mut spans = vec![Some((start, self.state_ptr))];
        for g in 0..self.marks.len() / 2 {
            // Python's rule when it builds the match object.
            let j = 2 * g;
            let set = ((j + 1) as isize) <= self.lastmark
                && self.marks[j] != NONE
                && self.marks[j + 1] != NONE;
            spans.push(set.then(|| (self.marks[j], self.marks[j + 1])));
        }
        let mut offsets = Vec::with_capacity(chars.len() + 1);
        offsets.extend(text.char_indices().map(|(i, _)| i));
        offsets.push(text.len());
        let bytes = spans
            .iter()
            .map(|s| {
                s.filter(|(a, b)| a <= b)
                    .map(|(a, b)| offsets[a]..offsets[b])
            })
            .collect();
        Captures {
            chars: spans,
            bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Group spans (characters) of `re.search(p, t, re.IGNORECASE)`, as
    /// CPython 3.11 gives them; `None` for no match.
    fn spans(p: &str, t: &str) -> Option<Vec<Option<(usize, usize)>>> {
        let rx = Regex::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        let m = rx.search(t, 1_000_000).expect("within budget")?;
        Some((0..=rx.groups()).map(|i| m.char_span(i)).collect())
    }

    #[test]
    fn results_are_cpythons() {
        // Each expected value was printed by CPython 3.11.7.
        let k = "k\u{212A}";
        for (p, t, expected) in [
            (
                r"(?P<s>ß)(?P=s)",
                "ßẞ",
                Some(vec![Some((0, 2)), Some((0, 1))]),
            ),
            (r"(?P<k>k)(?P=k)", k, Some(vec![Some((0, 2)), Some((0, 1))])),
            (r"(ς)\1", "ςΣ", None),
            (
                r"(?P<i>i)(?P=i)",
                "iİ",
                Some(vec![Some((0, 2)), Some((0, 1))]),
            ),
            (r"(?P<g>a*)*", "a", Some(vec![Some((0, 1)), Some((1, 1))])),
            (
                r"(?P<g>^)?(?(g)a|[^a])",
                "ba",
                Some(vec![Some((0, 1)), None]),
            ),
            (
                r"(?P<g>^)?(?(g)a|[^a])",
                "ab",
                Some(vec![Some((0, 1)), Some((0, 0))]),
            ),
            (
                r"(?:(?P<g>a)|b)*(?(g)x|y)",
                "abx",
                Some(vec![Some((0, 3)), Some((0, 1))]),
            ),
            (
                r"(?:(?P<g>a)|b)*(?(g)x|y)",
                "bay",
                Some(vec![Some((2, 3)), None]),
            ),
            (r"^weather$", "weather\n", Some(vec![Some((0, 7))])),
            (r"istanbul", "İSTANBUL", Some(vec![Some((0, 8))])),
            (r"(?:(a)|b)*", "ab", Some(vec![Some((0, 2)), Some((0, 1))])),
            (r"(a|)+b", "aab", Some(vec![Some((0, 3)), Some((2, 2))])),
            (r"(?>(a)|ab)c", "abc", None),
            (r"(?!(a)b)a", "ac", Some(vec![Some((0, 1)), None])),
            (r"(?<=(a))b", "ab", Some(vec![Some((1, 2)), Some((0, 1))])),
            (
                r"(?:a|(b))+?c",
                "abc",
                Some(vec![Some((0, 3)), Some((1, 2))]),
            ),
        ] {
            assert_eq!(spans(p, t), expected, "{p} on {t:?}");
        }
    }

    #[test]
    fn the_budget_stops_a_search() {
        let rx = Regex::new(r"(?=[\s\S]*z)a").unwrap();
        let text = "a".repeat(5_000);
        assert_eq!(
            rx.search(&text, 100_000),
            Err(BudgetExceeded { steps: 100_000 })
        );
        assert_eq!(rx.search(&text, u64::MAX), Ok(None));
    }
}
