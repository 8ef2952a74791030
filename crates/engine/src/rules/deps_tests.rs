//! No import circles between the files of `rules/`: each file's references to
//! its siblings (`super::x`, `use super::{x, ...}`) form a graph without cycles
//! (`mod.rs`, the hub that wires the families, is left out; test files too).

use std::collections::{BTreeMap, BTreeSet};

/// Sibling modules `src` names, from `super::name` and `use super::{name, ...}`.
fn edges(src: &str, mods: &BTreeSet<String>, me: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut add = |w: &str| {
        if w != me && mods.contains(w) {
            out.insert(w.to_string());
        }
    };
    for (i, _) in src.match_indices("super::") {
        let rest = &src[i + "super::".len()..];
        if let Some(block) = rest.strip_prefix('{') {
            let end = block.find('}').unwrap_or(block.len());
            for w in block[..end].split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                add(w);
            }
        } else {
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
            add(&rest[..end]);
        }
    }
    out
}

/// A cycle in `g`, if any (depth-first search).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_string());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

fn graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mods: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    files.iter().map(|(m, s)| (m.clone(), edges(s, &mods, m))).collect()
}

#[test]
fn rules_files_import_each_other_without_circles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).expect("rules dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(m) = name.strip_suffix(".rs") else { continue };
        if m == "mod" || m.ends_with("tests") {
            continue;
        }
        files.push((m.to_string(), std::fs::read_to_string(e.path()).expect("readable")));
    }
    assert!(files.len() > 10, "found {} files in {}", files.len(), dir.display());
    let g = graph(&files);
    assert!(g["control"].contains("classify"), "{g:?}");
    assert_eq!(cycle(&g), None, "import circle in rules/: {g:?}");
}

#[test]
fn the_check_finds_a_circle() {
    let files = vec![
        ("a".to_string(), "use super::{b, Detector};".to_string()),
        ("b".to_string(), "fn f() { super::c::g() }".to_string()),
        ("c".to_string(), "use super::a::X;".to_string()),
    ];
    assert_eq!(cycle(&graph(&files)), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
