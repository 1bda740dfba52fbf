//! House rules checked on the whole tree (crates, tests and the fuzz targets): every Rust
//! file opens with a `//!` paragraph saying what it is for, and the README installs `herald`
//! before it calls it.

use std::path::Path;

use crate::support::repo;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for top in ["crates", "tests", "fuzz"] {
        rust_files(&repo().join(top), &mut files);
    }
    assert!(
        files.len() > 10,
        "found too few Rust files: {}",
        files.len()
    );
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! paragraph: {missing:#?}"
    );
}

/// The quick start builds herald with cargo, which puts nothing on `PATH`; every later command
/// in the README says `herald ...`, so the quick start must say how that name comes to work
/// before the first command that uses it.
#[test]
fn the_readme_puts_herald_on_the_path_before_it_calls_herald() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let install = readme
        .find("cargo install --locked --path crates/herald")
        .expect("the README says how to put herald on PATH");
    let mut in_block = false;
    let mut offset = 0;
    let mut first_use = None;
    for line in readme.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
        } else if in_block && line.trim_start().starts_with("herald ") {
            first_use = Some(offset);
            break;
        }
        offset += line.len();
    }
    let first_use = first_use.expect("the README runs herald in a code block");
    assert!(
        install < first_use,
        "the README calls `herald` (at byte {first_use}) before it says how to install it (at byte {install})"
    );
}
