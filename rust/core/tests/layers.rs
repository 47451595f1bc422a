//! The core's modules form layers, bottom up, and a module uses only the
//! layers below it (and modules of its own layer that do not use it back).
//!
//! Why a test: an import cycle grows one convenient `use` at a time (the
//! runtime owning the store cache, the pool asking the runtime for the
//! process id) until every file depends on every other and none can be
//! read, tested or moved alone. The compiler allows cycles inside a crate;
//! this test does not.
//!
//! How: every `src/**.rs` file is a node, named by its module path. Its
//! edges are the paths it names: `crate::a::b`, `super::x`, `self::x`, and
//! a child module used by name (`child::f`), in `use` trees (`{a, b::c}`
//! groups included) and in expressions alike, with comments, strings and
//! `#[cfg(test)]` modules left out (tests may reach anywhere). A path
//! resolves to the longest module prefix that is a file; `crate::Error`
//! is `lib.rs`. The test fails when a module is missing from [`LAYERS`],
//! when a module uses one of a higher layer, and when modules use each
//! other in a cycle (of any length, within one layer).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layer of each module (by path prefix: `store` covers `store::local`),
/// bottom up. A module's layer is that of its longest listed prefix.
const LAYERS: &[(&str, u8)] = &[
    // L0: what things are; no I/O but reading the environment.
    ("error", 0),
    ("redact", 0),
    ("uri", 0),
    ("meta", 0),
    ("options", 0),
    ("env", 0),
    // L1: the process: its id and per-process cells, the runtime, counters.
    ("process", 1),
    ("runtime", 1),
    ("stats", 1),
    ("metrics", 1),
    ("oplog", 1),
    // L2: memory: the span every in-place fill writes, buffers, the pool.
    ("span", 2),
    ("pool", 2),
    ("buffer", 2),
    // L3: running work (blocking workers, CPU permits), checksums, and
    // the plain-HTTP GET client.
    ("exec", 3),
    ("checksum", 3),
    ("http", 3),
    // L4: backends behind one Target.
    ("store", 4),
    // L5: operations.
    ("fetch", 5),
    ("batch", 5),
    ("objects", 5),
    ("shards", 5),
    ("checkpoint", 5),
    // L6: the façade.
    ("", 6),
];

#[test]
fn no_module_uses_a_higher_layer_or_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = read_tree(&src);
    assert!(files.len() > 10, "found the sources: {:?}", files.keys());
    let problems = check(&files, LAYERS);
    assert!(
        problems.is_empty(),
        "layering broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_check_finds_upward_uses_and_cycles() {
    let files = |list: &[(&str, &str)]| -> BTreeMap<String, String> {
        list.iter()
            .map(|(m, s)| (m.to_string(), s.to_string()))
            .collect()
    };
    let layers: &[(&str, u8)] = &[("low", 0), ("mid", 1), ("high", 2), ("", 3)];
    let clean = files(&[
        ("", "mod low; mod mid; pub use mid::M;"),
        (
            "low",
            "pub struct L; // crate::high::H in a comment\nconst S: &str = \"crate::high\";",
        ),
        (
            "mid",
            "mod inner; use crate::{low::{self, L}}; fn f() { inner::g(); }",
        ),
        (
            "mid::inner",
            "use super::super::low::L;\n#[cfg(test)]\nmod tests { use crate::high::H; }",
        ),
        (
            "high",
            "use crate::mid::M; fn f() -> crate::low::L { crate::low::L }",
        ),
    ]);
    assert_eq!(check(&clean, layers), Vec::<String>::new());

    let upward = files(&[("low", "use crate::{mid::{x, y}};"), ("mid", ""), ("", "")]);
    let found = check(&upward, layers);
    assert!(
        found.len() == 1 && found[0].contains("low (L0) uses mid (L1)"),
        "{found:?}"
    );

    let root = files(&[("low", "fn f() { crate::put(); }"), ("", "")]);
    assert!(check(&root, layers)[0].contains("uses lib.rs"));

    let cycle = files(&[
        ("mid", "mod a; mod b;"),
        ("mid::a", "use super::b::B;"),
        ("mid::b", "pub struct B; fn f() { super::a::g() }"),
        ("", ""),
    ]);
    let found = check(&cycle, layers);
    assert!(
        found.len() == 1 && found[0].contains("cycle: mid::a -> mid::b -> mid::a"),
        "{found:?}"
    );

    let undeclared = files(&[("stray", ""), ("", "")]);
    assert!(check(&undeclared, layers)[0].contains("stray: in no layer"));
}

/// Every `.rs` file under `src`, by module path (`""` for `lib.rs`).
fn read_tree(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            out.insert(parts.join("::"), std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// What is wrong with `files` (module path -> source) against `layers`.
fn check(files: &BTreeMap<String, String>, layers: &[(&str, u8)]) -> Vec<String> {
    let mut problems = Vec::new();
    let layer_of = |module: &str| -> Option<u8> {
        layers
            .iter()
            .filter(|(prefix, _)| module == *prefix || module.starts_with(&format!("{prefix}::")))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|&(_, layer)| layer)
    };
    let name = |m: &str| match m {
        "" => "lib.rs".to_owned(),
        m => m.to_owned(),
    };
    let debug = std::env::var("LAYERS_DEBUG").is_ok();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in files {
        let Some(layer) = layer_of(module) else {
            problems.push(format!("{}: in no layer (add it to LAYERS)", name(module)));
            continue;
        };
        let edges = uses(module, source, files);
        if debug {
            eprintln!("{}: {:?}", name(module), edges);
            eprintln!("{}", without_tests(&strip(source)));
        }
        for used in &edges {
            let used_layer = layer_of(used).unwrap_or(u8::MAX);
            if used_layer > layer {
                problems.push(format!(
                    "{} (L{layer}) uses {} (L{used_layer})",
                    name(module),
                    name(used)
                ));
            }
        }
        graph.insert(module.clone(), edges);
    }
    for cycle in cycles(&graph) {
        let shown: Vec<String> = cycle.iter().map(|m| name(m)).collect();
        problems.push(format!("cycle: {}", shown.join(" -> ")));
    }
    problems
}

/// The modules (files) that `module`'s non-test code names.
fn uses(module: &str, source: &str, files: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = without_tests(&strip(source));
    let here: Vec<&str> = match module {
        "" => vec![],
        m => m.split("::").collect(),
    };
    let children: BTreeSet<String> = files
        .keys()
        .filter_map(|k| {
            let parent = k.rsplit_once("::").map_or("", |(p, _)| p);
            (parent == module && !k.is_empty()).then(|| k.rsplit("::").next().unwrap().to_owned())
        })
        .collect();
    let chars: Vec<char> = code.chars().collect();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]) && !follows_path(&chars, i);
        if !starts_word || !is_ident(chars[i]) {
            i += 1;
            continue;
        }
        let (word, end) = ident(&chars, i);
        let rooted = match word.as_str() {
            "crate" => Some(Vec::new()),
            "super" => Some(here[..here.len().saturating_sub(1)].to_vec()),
            "self" => Some(here.clone()),
            child if children.contains(child) => {
                let mut base = here.clone();
                base.push(child);
                Some(base)
            }
            _ => None,
        };
        let Some(base) = rooted else {
            i = end;
            continue;
        };
        let base: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        // Only a path counts (`crate::x`), not `pub(crate)` or `self.x`.
        if !(chars.get(end) == Some(&':') && chars.get(end + 1) == Some(&':')) {
            i = end;
            continue;
        }
        let (paths, next) = tree(&chars, end + 2, base);
        for path in paths {
            out.insert(resolve(&path, files));
        }
        i = next.max(end);
    }
    out.remove(module);
    out
}

/// True when the identifier at `i` continues a path (`a::b`: b follows).
fn follows_path(chars: &[char], i: usize) -> bool {
    i >= 2 && chars[i - 1] == ':' && chars[i - 2] == ':'
}

/// The longest prefix of `path` that is a module file.
fn resolve(path: &[String], files: &BTreeMap<String, String>) -> String {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| files.contains_key(m))
        .unwrap_or_default()
}

/// The paths of a use tree (or an expression's path) starting at `i`,
/// after `base::`; returns them and where the tree ends.
fn tree(chars: &[char], mut i: usize, base: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut path = base;
    loop {
        i = skip_space(chars, i);
        match chars.get(i) {
            Some('{') => {
                let mut out = Vec::new();
                i += 1;
                loop {
                    i = skip_space(chars, i);
                    match chars.get(i) {
                        Some('}') => return (out, i + 1),
                        Some(',') => i += 1,
                        None => return (out, i),
                        _ => {
                            let (paths, next) = tree(chars, i, path.clone());
                            out.extend(paths);
                            i = next.max(i + 1);
                        }
                    }
                }
            }
            Some('*') => return (vec![path], i + 1),
            Some(&c) if is_ident(c) => {
                let (word, end) = ident(chars, i);
                i = end;
                if word == "self" {
                    return (vec![path], i);
                }
                if word == "super" {
                    path.pop();
                } else {
                    path.push(word);
                }
                if chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
                    i += 2;
                    continue;
                }
                return (vec![path], i);
            }
            _ => return (vec![path], i),
        }
    }
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while chars.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    i
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn ident(chars: &[char], mut i: usize) -> (String, usize) {
    let start = i;
    while chars.get(i).is_some_and(|&c| is_ident(c)) {
        i += 1;
    }
    (chars[start..i].iter().collect(), i)
}

/// `source` without comments, string and character literals (each
/// replaced by a space).
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
            continue;
        }
        let raw = c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(chars[i - 1]));
        if raw {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                j += 1;
                loop {
                    match chars.get(j) {
                        None => break,
                        Some('"') if (1..=hashes).all(|h| chars.get(j + h) == Some(&'#')) => {
                            j += 1 + hashes;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                out.push(' ');
                i = j;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push(' ');
            continue;
        }
        if c == '\'' {
            // A character literal ('x', '\n', '\u{..}'), not a lifetime.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push(' ');
                continue;
            }
            if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `code` without its `#[cfg(test)]` items (a module or a function).
fn without_tests(code: &str) -> String {
    let mut out = code.to_owned();
    while let Some(at) = out.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let end = match (out[after..].find('{'), out[after..].find(';')) {
            (Some(brace), semi) if semi.is_none_or(|s| brace < s) => {
                let mut depth = 0;
                let mut end = out.len();
                for (k, ch) in out[after + brace..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = after + brace + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (_, Some(semi)) => after + semi + 1,
            _ => out.len(),
        };
        out.replace_range(at..end, " ");
    }
    out
}

/// Every cycle of modules (a strongly connected set of more than one,
/// or a module using itself), each shown as one path round it.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative enough for a crate's size.
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut members = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                members.insert(w.to_owned());
                if w == v {
                    break;
                }
            }
            if members.len() > 1 {
                s.found.push(path_round(graph, &members));
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// One cycle through the first of `members` (all strongly connected).
fn path_round(
    graph: &BTreeMap<String, BTreeSet<String>>,
    members: &BTreeSet<String>,
) -> Vec<String> {
    let start = members.iter().next().unwrap().clone();
    // Breadth-first from `start` back to it, inside `members`.
    let mut came_from: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    while let Some(v) = queue.pop_front() {
        for w in &graph[&v] {
            if !members.contains(w) {
                continue;
            }
            if *w == start {
                let mut path = vec![start.clone()];
                let mut at = v.clone();
                while at != start {
                    path.push(at.clone());
                    at = came_from[&at].clone();
                }
                path.push(start.clone());
                let last = path.len() - 1;
                path[1..last].reverse();
                return path;
            }
            if !came_from.contains_key(w) {
                came_from.insert(w.clone(), v.clone());
                queue.push_back(w.clone());
            }
        }
    }
    members.iter().cloned().collect()
}
