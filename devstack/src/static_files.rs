//! `static_files` of `[functions.<name>]` in `supabase/config.toml`: the
//! files a deploy bundles beside the function's modules, and so the only
//! files the function may read.
//!
//! Deno's `--allow-read` takes paths, not globs, so the patterns are expanded
//! to the files that exist when the stack starts; a file added later stays
//! unreadable until the next start (a deploy bundles at deploy time too).
//!
//! Patterns are relative to `supabase/`, `/`-separated, and may use `*` and
//! `?` within a name and `**` for any depth of folders. Character classes
//! (`[ab]`) and braces are not supported; such a pattern matches nothing.

use std::path::{Path, PathBuf};

/// The files under `base` that match any of `patterns`, sorted, each once.
pub fn expand(base: &Path, patterns: &[String]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = patterns
        .iter()
        .flat_map(|pattern| {
            let segments: Vec<&str> = pattern
                .split('/')
                .filter(|segment| !segment.is_empty() && *segment != ".")
                .collect();
            let mut found = Vec::new();
            collect(base, &segments, &mut found);
            found
        })
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Adds to `found` the files below `dir` that match `segments`.
fn collect(dir: &Path, segments: &[&str], found: &mut Vec<PathBuf>) {
    let Some((first, rest)) = segments.split_first() else {
        if dir.is_file() {
            found.push(dir.to_path_buf());
        }
        return;
    };
    if *first == "**" {
        // Zero folders, or one more folder and still inside the `**`.
        collect(dir, rest, found);
        for child in children(dir).into_iter().filter(|child| child.is_dir()) {
            collect(&child, segments, found);
        }
        return;
    }
    if !has_wildcard(first) {
        collect(&dir.join(first), rest, found);
        return;
    }
    for child in children(dir) {
        let name = child.file_name().unwrap_or_default().to_string_lossy();
        if wildcard_match(first, &name) {
            collect(&child, rest, found);
        }
    }
}

fn children(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .collect()
}

fn has_wildcard(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '{'])
}

/// Whether `name` matches `pattern`, where `*` is any run of characters and
/// `?` any one character. A `[` or `{` in the pattern matches nothing.
fn wildcard_match(pattern: &str, name: &str) -> bool {
    if pattern.contains(['[', '{']) {
        return false;
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    // Greedy match with backtracking to the last `*`.
    let (mut p, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                last_star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match last_star {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    last_star = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_within_one_name() {
        assert!(wildcard_match("*", "x_bg.wasm"));
        assert!(wildcard_match("*.wasm", "x_bg.wasm"));
        assert!(wildcard_match("x_??.wasm", "x_bg.wasm"));
        assert!(wildcard_match("*bg*", "x_bg.wasm"));
        assert!(!wildcard_match("*.js", "x_bg.wasm"));
        assert!(!wildcard_match("x?", "x"));
        assert!(!wildcard_match("[x]*", "x_bg.wasm"));
    }

    #[test]
    fn patterns_expand_to_existing_files_only() {
        let base = std::env::temp_dir().join(format!("devstack-static-{}", std::process::id()));
        let pkg = base.join("functions/f/pkg");
        std::fs::create_dir_all(pkg.join("deep")).unwrap();
        for file in ["pkg/a.wasm", "pkg/a.js", "pkg/deep/b.wasm", "index.ts"] {
            std::fs::write(base.join("functions/f").join(file), "").unwrap();
        }
        let names = |patterns: &[&str]| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            expand(&base, &patterns)
                .iter()
                .map(|path| path.strip_prefix(&base).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(&["./functions/f/pkg/*"]),
            ["functions/f/pkg/a.js", "functions/f/pkg/a.wasm"]
        );
        assert_eq!(
            names(&["functions/f/**/*.wasm", "./functions/f/pkg/a.wasm"]),
            ["functions/f/pkg/a.wasm", "functions/f/pkg/deep/b.wasm"]
        );
        assert_eq!(names(&["./functions/f/index.ts"]), ["functions/f/index.ts"]);
        assert!(names(&["./functions/g/*", "./functions/f/pkg/*.txt"]).is_empty());
        std::fs::remove_dir_all(base).unwrap();
    }
}
