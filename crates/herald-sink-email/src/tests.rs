//! Crate-wide checks: every source file says what it is for.

#[test]
fn every_source_file_opens_with_a_doc_paragraph() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src"), root.join("tests")];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("//! "),
                    "{} lacks a //! paragraph",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "found only {seen} source files");
}
