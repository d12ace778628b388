//! Output: one JSON line per measurement on stdout (for machines), one
//! readable row on stderr (for people).

use serde::Serialize;
use serde_json::{Value, json};

#[derive(Default)]
pub struct Reporter {
    pub lines: Vec<Value>,
    pub quiet: bool,
}

impl Reporter {
    pub fn emit(&mut self, scenario: &str, result: &impl Serialize, row: String) {
        let mut line = json!({ "scenario": scenario });
        if let (Some(obj), Ok(Value::Object(fields))) =
            (line.as_object_mut(), serde_json::to_value(result))
        {
            obj.extend(fields);
        }
        if !self.quiet {
            println!("{line}");
            eprintln!("{scenario:<10} {row}");
        }
        self.lines.push(line);
    }

    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}
