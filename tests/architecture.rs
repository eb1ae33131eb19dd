//! The layout the README's architecture section describes, checked from the sources (issue 9):
//! no file-level import circle in `harness/` or `sandbox/src/api/`, no folder-level circle in
//! `harness/`, and an engine that knows nothing of the steps, the reports or the CLI.
//!
//! An import is any path in non-test code that names another module file of the same crate:
//! `crate::…`, `super::…`, `self::…`, or a child module the file declares (`mod x;` then `x::…`),
//! in `use` trees, expressions, types and macro bodies alike. Items under `#[cfg(test)]` are left
//! out: a test may reach anything. A module's use of its own submodules (a `mod.rs` that declares,
//! re-exports or dispatches to its children) is containment, not an import, and is not counted;
//! a child's use of its parent is.
//!
//! The sources are read by a small tokenizer below rather than by `syn`: a `syn` with the
//! features this needs, added as a dev-dependency, changes the feature set of crates the
//! product builds too, and cargo then compiles the whole dependency tree twice (once for
//! `cargo build`, once for `cargo test`). The tokenizer only has to tell identifiers, `::`,
//! brackets and `;` apart from comments and literals; `the_checker_*` tests pin it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module file, as its path from the crate root (`["engine", "runner"]`; `[]` is the root).
type Module = Vec<String>;
/// Module → the other module files it imports.
type Graph = BTreeMap<Module, BTreeSet<Module>>;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    /// Any other punctuation character.
    Punct(char),
}

/// Splits Rust source into identifiers and punctuation, dropping comments, string, byte-string,
/// raw-string and char literals, lifetimes and numbers.
fn tokens(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && next == Some('r')))
            && raw_string_start(&b, if c == 'b' { i + 1 } else { i }).is_some()
        {
            let start = if c == 'b' { i + 1 } else { i };
            let hashes = raw_string_start(&b, start).unwrap();
            i = start + 1 + hashes + 1;
            loop {
                if i >= b.len() {
                    break;
                }
                if b[i] == '"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && next == Some('\'')) {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): a lifetime has no
            // closing quote right after its first character.
            let s = if c == 'b' { i + 1 } else { i };
            if b.get(s + 1) == Some(&'\\') {
                i = s + 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(s + 2) == Some(&'\'') {
                i = s + 3;
            } else {
                i = s + 1;
                while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(b[s..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                // `1..2` is a range, not a number: stop before `..`.
                if b[i] == '.' && b.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
        } else if c == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// The number of `#`s of a raw string starting at `i` (`r"`, `r#"`, …), if one starts there.
fn raw_string_start(b: &[char], i: usize) -> Option<usize> {
    if b.get(i) != Some(&'r') {
        return None;
    }
    // `r` must not be the end of a longer identifier (`for"`) — the caller is at a token start.
    let mut j = i + 1;
    while b.get(j) == Some(&'#') {
        j += 1;
    }
    (b.get(j) == Some(&'"')).then_some(j - i - 1)
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Removes every item under `#[cfg(test)]`: the attribute, further attributes, and the item up
/// to its `;` or its closing brace.
fn without_test_items(toks: Vec<Tok>) -> Vec<Tok> {
    let is = |t: &Tok, c: char| *t == Tok::Punct(c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let cfg_test = is(&toks[i], '#')
            && toks.get(i + 1).is_some_and(|t| is(t, '['))
            && ident(toks.get(i + 2)) == Some("cfg")
            && toks.get(i + 3).is_some_and(|t| is(t, '('))
            && ident(toks.get(i + 4)) == Some("test")
            && toks.get(i + 5).is_some_and(|t| is(t, ')'))
            && toks.get(i + 6).is_some_and(|t| is(t, ']'));
        if !cfg_test {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        i += 7;
        let mut depth = 0i32;
        while i < toks.len() {
            let t = &toks[i];
            i += 1;
            if is(t, '{') || is(t, '(') || is(t, '[') {
                depth += 1;
            } else if is(t, '}') || is(t, ')') || is(t, ']') {
                depth -= 1;
                if depth == 0 && is(t, '}') {
                    break;
                }
            } else if depth == 0 && is(t, ';') {
                break;
            }
        }
    }
    out
}

/// Flattens the `use` tree that starts at `toks[*i]` into full paths; leaves `*i` after it.
fn use_tree(toks: &[Tok], i: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut pushed = 0;
    loop {
        match toks.get(*i) {
            Some(Tok::Ident(s)) if s == "as" => {
                *i += 2; // `as name`
                out.push(prefix.clone());
                break;
            }
            Some(Tok::Ident(s)) => {
                prefix.push(s.clone());
                pushed += 1;
                *i += 1;
                if toks.get(*i) == Some(&Tok::Path) {
                    *i += 1;
                    continue;
                }
                if prefix.last().is_some_and(|l| l == "self") {
                    prefix.pop();
                    pushed -= 1;
                }
                out.push(prefix.clone());
                break;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push(prefix.clone());
                break;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while toks.get(*i).is_some_and(|t| *t != Tok::Punct('}')) {
                    use_tree(toks, i, prefix, out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                break;
            }
            _ => break,
        }
    }
    for _ in 0..pushed {
        prefix.pop();
    }
}

/// Every module path a file's non-test code names, relative forms made absolute.
fn named_paths(module: &Module, src: &str) -> Vec<Module> {
    let toks = without_test_items(tokens(src));
    let children: BTreeSet<String> = toks
        .windows(3)
        .filter_map(|w| match w {
            [Tok::Ident(m), Tok::Ident(name), Tok::Punct(';')] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut raw: Vec<Vec<String>> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if ident(toks.get(i)) == Some("use") {
            i += 1;
            use_tree(&toks, &mut i, &mut Vec::new(), &mut raw);
            continue;
        }
        let starts_path = matches!(&toks[i], Tok::Ident(_))
            && toks.get(i + 1) == Some(&Tok::Path)
            && (i == 0 || toks[i - 1] != Tok::Path);
        if starts_path {
            let mut segs = Vec::new();
            while let Some(s) = ident(toks.get(i)) {
                segs.push(s.to_string());
                if toks.get(i + 1) != Some(&Tok::Path) {
                    i += 1;
                    break;
                }
                i += 2;
            }
            raw.push(segs);
            continue;
        }
        i += 1;
    }
    raw.into_iter()
        .filter_map(|segs| absolute(module, &children, &segs))
        .collect()
}

/// The absolute module path a path's segments name, or None for extern crates, std and locals.
fn absolute(module: &Module, children: &BTreeSet<String>, segs: &[String]) -> Option<Module> {
    let (first, rest) = segs.split_first()?;
    let mut base = module.clone();
    let mut rest = rest;
    match first.as_str() {
        "crate" => base.clear(),
        "self" => {}
        // `super` of `engine/runner.rs` (module engine::runner) is `engine`; of `engine/mod.rs`
        // (module engine) it is the root: one level up from the module either way.
        "super" => {
            base.pop();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        child if children.contains(child) => base.push(child.to_string()),
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

// ---------------------------------------------------------------------------------------------
// The module graph

/// The module a file defines, from its path under the crate's source root.
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Reads every module file under `root` (the folder of the crate's `lib.rs`; `main.rs`, a
/// separate crate, is left out) into its import graph.
fn read_crate(root: &Path) -> Graph {
    let mut paths = Vec::new();
    rust_files(root, &mut paths);
    let files: BTreeMap<Module, PathBuf> = paths
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "main.rs"))
        .map(|p| (module_of(root, &p), p))
        .collect();
    files
        .iter()
        .map(|(module, path)| {
            let src = std::fs::read_to_string(path).unwrap();
            // Each path names the longest module prefix that is a file.
            let targets = named_paths(module, &src)
                .into_iter()
                .filter_map(|p| {
                    (0..=p.len())
                        .rev()
                        .map(|n| p[..n].to_vec())
                        .find(|prefix| files.contains_key(prefix))
                })
                // Not itself, not one of its own submodules (containment).
                .filter(|t| !t.starts_with(module))
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

fn show(m: &Module) -> String {
    if m.is_empty() {
        "lib".into()
    } else {
        m.join("/")
    }
}

/// The import circles of a graph: its strongly connected components of more than one node
/// (Tarjan's algorithm), each sorted, as file names.
fn circles(graph: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g Module, usize>,
        low: BTreeMap<&'g Module, usize>,
        stack: Vec<&'g Module>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Tarjan<'g> {
        fn visit(&mut self, v: &'g Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(show(w));
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.found.sort();
    t.found
}

/// The imports that close each circle, for the failure message.
fn explain(graph: &Graph, found: &[Vec<String>]) -> String {
    let mut lines = Vec::new();
    for circle in found {
        lines.push(format!("  {}:", circle.join(", ")));
        for (from, tos) in graph {
            for to in tos {
                if circle.contains(&show(from)) && circle.contains(&show(to)) {
                    lines.push(format!("    {} -> {}", show(from), show(to)));
                }
            }
        }
    }
    lines.join("\n")
}

/// The graph between top-level folders (and root files) of a crate.
fn folders(graph: &Graph) -> Graph {
    let mut out: Graph = BTreeMap::new();
    for (from, tos) in graph {
        for to in tos {
            if let (Some(a), Some(b)) = (from.first(), to.first()) {
                if a != b {
                    out.entry(vec![a.clone()])
                        .or_default()
                        .insert(vec![b.clone()]);
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The rules

#[test]
fn harness_has_no_file_level_import_circle() {
    let graph = read_crate(&repo().join("harness"));
    assert!(graph.len() > 50, "read only {} files", graph.len());
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "import circles between files of harness/:\n{}",
        explain(&graph, &found)
    );
}

#[test]
fn harness_folders_import_each_other_in_one_direction() {
    let graph = folders(&read_crate(&repo().join("harness")));
    let found = circles(&graph);
    assert!(
        found.is_empty(),
        "folders of harness/ that import each other:\n{}",
        explain(&graph, &found)
    );
}

#[test]
fn the_engine_imports_no_step_report_or_cli_code() {
    let graph = read_crate(&repo().join("harness"));
    let forbidden = ["steps", "report", "cli", "drill"];
    let engine: Vec<&Module> = graph
        .keys()
        .filter(|m| m.first().is_some_and(|top| top == "engine"))
        .collect();
    assert!(engine.len() > 3, "found only {} engine files", engine.len());
    let wrong: Vec<String> = engine
        .iter()
        .flat_map(|from| {
            graph[*from]
                .iter()
                .filter(|to| {
                    to.first()
                        .is_some_and(|top| forbidden.contains(&top.as_str()))
                })
                .map(move |to| format!("{} -> {}", show(from), show(to)))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "engine/ imports what it must not:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn sandbox_api_has_no_file_level_import_circle() {
    let all = read_crate(&repo().join("sandbox/src"));
    let in_api = |m: &Module| m.first().is_some_and(|top| top == "api");
    let api: Graph = all
        .iter()
        .filter(|(m, _)| in_api(m))
        .map(|(m, tos)| {
            (
                m.clone(),
                tos.iter().filter(|t| in_api(t)).cloned().collect(),
            )
        })
        .collect();
    assert!(api.len() > 5, "read only {} api files", api.len());
    let found = circles(&api);
    assert!(
        found.is_empty(),
        "import circles between files of sandbox/src/api/:\n{}",
        explain(&api, &found)
    );
}

// ---------------------------------------------------------------------------------------------
// The checker can fail

fn planted(files: &[(&str, &str)]) -> Graph {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    read_crate(dir.path())
}

/// Circles closed through `crate::` inside a macro, a `use` group, and `super::` between
/// siblings; a parent's use of its own child does not count.
#[test]
fn the_checker_finds_a_planted_circle() {
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a/mod.rs",
            "pub mod inner;\npub mod x;\npub mod y;\npub fn f() { inner::g(); }\n",
        ),
        (
            "a/inner.rs",
            "pub fn g() { let _ = format!(\"{:?}\", crate::b::h as fn()); }\n",
        ),
        ("a/x.rs", "pub fn g() { super::y::k(); }\n"),
        (
            "a/y.rs",
            "use super::{x::{self}};\npub fn k() { x::g(); }\n",
        ),
        (
            "b.rs",
            "use crate::{a::{inner::g}, x};\npub fn h() { g(); }\n",
        ),
    ];
    let graph = planted(&files);
    assert_eq!(
        circles(&graph),
        vec![
            vec!["a/inner".to_string(), "b".to_string()],
            vec!["a/x".to_string(), "a/y".to_string()],
        ]
    );
    // a -> a/inner is containment, not an import.
    assert!(graph[&vec!["a".to_string()]].is_empty(), "{graph:?}");
}

/// What is not an import: test items, comments, strings, extern paths, a `super` import that
/// closes no circle.
#[test]
fn the_checker_ignores_tests_comments_and_literals() {
    let files = [
        ("lib.rs", "pub mod a;\npub mod b;\n"),
        (
            "a.rs",
            "// crate::b::h\n/* crate::b::h /* nested */ crate::b::h */\n\
             pub fn f() -> &'static str { let _c = '\"'; r#\"crate::b::h\"# }\n\
             pub fn g() -> String { std::string::String::from(\"crate::b::h\") }\n\
             #[cfg(test)]\nmod tests { use crate::b::h; }\n\
             #[cfg(test)]\nfn helper() { crate::b::h(); }\n",
        ),
        ("b.rs", "use super::a::f;\npub fn h() { f(); }\n"),
    ];
    let graph = planted(&files);
    assert!(circles(&graph).is_empty(), "{graph:?}");
    assert_eq!(
        graph[&vec!["b".to_string()]],
        BTreeSet::from([vec!["a".to_string()]])
    );
    assert!(graph[&vec!["a".to_string()]].is_empty(), "{graph:?}");
}
