//! Source positions for configuration errors.
//!
//! toml's deserializer reports a byte span; rules checked after deserializing (duplicate step
//! names, `argv` with a preset) and errors raised inside a step table have none. This module
//! turns spans into 1-based line:column, finds the key and table around a span, and finds a
//! key by its path (`hooks.destroy.argv`, `steps[3].kind`) in a span-preserving parse of the
//! same text (toml_edit).

use std::ops::Range;

use toml_edit::{ImDocument, Item, Value};

use super::error::ConfigError;

/// One step of a key path: a table key or an array-of-tables index.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The text of one configuration file plus its origin name, for building located errors.
pub(crate) struct Source<'a> {
    pub origin: &'a str,
    pub text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> Source<'a> {
    pub fn new(origin: &'a str, text: &'a str) -> Self {
        Source {
            origin,
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// 1-based (line, column) of a byte offset; columns count characters.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// An error at a byte offset.
    pub fn error_at(&self, offset: usize, message: String, hint: Option<String>) -> ConfigError {
        let (line, column) = self.line_col(offset);
        ConfigError::Invalid {
            file: self.origin.to_string(),
            line,
            column,
            message,
            hint,
        }
    }

    /// An error at the key named by `path`, or at the deepest part of it the text has (the
    /// table an unknown or missing key belongs in); 1:1 when not even the first part exists.
    pub fn error_at_key(
        &self,
        path: &[Seg<'_>],
        message: String,
        hint: Option<String>,
    ) -> ConfigError {
        let offset = self.walk(path).0.map_or(0, |r| r.start);
        self.error_at(offset, message, hint)
    }

    /// Span of the key at `path`; for an index as the last segment, the span of that table's
    /// header (an array of tables) or of the inline table. `None` when the text does not hold
    /// the whole path (or is not TOML).
    pub fn key_span(&self, path: &[Seg<'_>]) -> Option<Range<usize>> {
        match self.walk(path) {
            (span, true) => span,
            (_, false) => None,
        }
    }

    /// Follows `path` through the document: the span of the deepest part found (as
    /// [`Source::key_span`] describes) and whether the whole path was found.
    fn walk(&self, path: &[Seg<'_>]) -> (Option<Range<usize>>, bool) {
        let Some(doc) = self.doc.as_ref() else {
            return (None, false);
        };
        let mut best: Option<Range<usize>> = None;
        let mut item: Option<&Item> = None;
        let mut table_like: Option<&dyn toml_edit::TableLike> = Some(doc.as_table());
        for seg in path {
            let found = match *seg {
                Seg::Key(k) => table_like
                    .and_then(|t| t.get_key_value(k))
                    .map(|(key, next)| (key.span(), Some(next), next.as_table_like())),
                Seg::Index(i) => {
                    let in_array = item
                        .and_then(Item::as_array_of_tables)
                        .and_then(|a| a.get(i))
                        .map(|table| {
                            (table.span(), None, Some(table as &dyn toml_edit::TableLike))
                        });
                    in_array.or_else(|| {
                        let inline = item?.as_value().and_then(Value::as_array)?.get(i)?;
                        let table = inline
                            .as_inline_table()
                            .map(|t| t as &dyn toml_edit::TableLike);
                        Some((inline.span(), None, table))
                    })
                }
            };
            let Some((span, next_item, next_table)) = found else {
                return (best, false);
            };
            if span.is_some() {
                best = span;
            }
            item = next_item;
            table_like = next_table;
        }
        (best, true)
    }

    /// The key written at `offset` (`timeout` in `timeout = "x"`), if the line is a key line.
    pub fn key_at(&self, offset: usize) -> Option<String> {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let rest = &self.text[offset..];
        // The span may start on the key itself (unknown key errors): take the bare key there.
        let bare: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if !bare.is_empty() && rest[bare.len()..].trim_start().starts_with('=') {
            return Some(bare);
        }
        // Otherwise the span is on a value: the key is before the nearest `=` on the line.
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let head = &self.text[line_start..offset];
        let eq = head.rfind('=')?;
        let before = head[..eq].trim_end();
        let key: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '"')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let key = key.trim_matches('"').to_string();
        (!key.is_empty()).then_some(key)
    }

    /// The table around `offset`, as written: `[safety]`, `[[steps]]` or `the top level`.
    pub fn table_at(&self, offset: usize) -> String {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        self.text[..line_end]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| match l.find(']') {
                Some(end) if l.starts_with("[[") => l[..(end + 2).min(l.len())].to_string(),
                Some(end) => l[..=end].to_string(),
                None => l.to_string(),
            })
            .unwrap_or_else(|| "the top level".to_string())
    }

    /// The byte offset of the first occurrence of `needle` inside `range`, if any.
    pub fn find_in(&self, range: Range<usize>, needle: &str) -> Option<usize> {
        let end = range.end.min(self.text.len());
        let start = range.start.min(end);
        let start = floor_char_boundary(self.text, start);
        let end = floor_char_boundary(self.text, end);
        self.text[start..end].find(needle).map(|i| start + i)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name = \"x\"\n\n[safety]\nallow_destroy = true\n\n[hooks.destroy]\npreset = \"tofu\"\nargv = [\"a\"]\n\n[[steps]]\nkind = \"preflight\"\n\n[[steps]]\nkind = \"backup\"\n";

    #[test]
    fn line_col_is_one_based() {
        let s = Source::new("f", TEXT);
        assert_eq!(s.line_col(0), (1, 1));
        let off = TEXT.find("allow_destroy").unwrap_or(0);
        assert_eq!(s.line_col(off), (4, 1));
    }

    #[test]
    fn key_span_follows_tables_and_array_indexes() {
        let s = Source::new("f", TEXT);
        let span = s
            .key_span(&[Seg::Key("hooks"), Seg::Key("destroy"), Seg::Key("argv")])
            .unwrap_or(0..0);
        assert_eq!(s.line_col(span.start), (8, 1));
        let span = s
            .key_span(&[Seg::Key("steps"), Seg::Index(1), Seg::Key("kind")])
            .unwrap_or(0..0);
        assert_eq!(s.line_col(span.start), (14, 1));
    }

    /// Regression: a path through a key that does not exist returned no span at all, so the
    /// error pointed at 1:1 instead of the table the key is missing from.
    #[test]
    fn key_span_falls_back_to_the_deepest_existing_part() {
        let s = Source::new("f", TEXT);
        let at = |path: &[Seg<'_>]| match s.error_at_key(path, String::new(), None) {
            ConfigError::Invalid { line, column, .. } => (line, column),
            other => panic!("{other}"),
        };
        let colour = [Seg::Key("hooks"), Seg::Key("destroy"), Seg::Key("colour")];
        assert_eq!(at(&colour), (6, 8), "at `destroy` in [hooks.destroy]");
        assert_eq!(s.key_span(&colour), None, "key_span is exact");
        let nope = [
            Seg::Key("steps"),
            Seg::Index(1),
            Seg::Key("nope"),
            Seg::Index(3),
        ];
        assert_eq!(at(&nope), (13, 1), "at the second [[steps]]");
        assert_eq!(at(&[Seg::Key("nope")]), (1, 1));
    }

    #[test]
    fn key_span_enters_inline_arrays_and_tables() {
        let text =
            "[[steps]]\ngates = [\n  { name = \"a\" },\n  { name = \"b\", o = { k = 1 } },\n]\n";
        let s = Source::new("f", text);
        let at = |path: &[Seg<'_>]| s.key_span(path).map(|r| s.line_col(r.start));
        let gate = [
            Seg::Key("steps"),
            Seg::Index(0),
            Seg::Key("gates"),
            Seg::Index(1),
        ];
        assert_eq!(at(&gate), Some((4, 3)), "the inline table");
        let k = [&gate[..], &[Seg::Key("o"), Seg::Key("k")]].concat();
        assert_eq!(at(&k), Some((4, 23)));
    }

    #[test]
    fn key_and_table_around_an_offset() {
        let s = Source::new("f", TEXT);
        let off = TEXT.find("\"tofu\"").unwrap_or(0);
        assert_eq!(s.key_at(off).as_deref(), Some("preset"));
        assert_eq!(s.table_at(off), "[hooks.destroy]");
        assert_eq!(s.table_at(0), "the top level");
    }
}
