//! Pipeline files with tests in them (`tests/pipelines/*.yaml`): every test must pass.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pipeline_test_passes() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pipelines");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/pipelines")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let name = file.display().to_string();
        let graph = sluice_config::load(&sluice_config::Source {
            file: &name,
            text: &text,
            sets: &[],
            env: &|_| None,
        })
        .unwrap_or_else(|problems| panic!("{name} does not load:\n{problems}"));
        let results = graph
            .run_tests()
            .await
            .unwrap_or_else(|problems| panic!("{name}: {problems}"));
        assert!(!results.is_empty(), "{name} has tests");
        for result in results.into_iter().filter(|r| !r.passed()) {
            failures.push(format!(
                "{name}: {}\n{}",
                result.name,
                result.failures.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
