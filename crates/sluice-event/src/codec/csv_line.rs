//! Splitting one CSV line into fields (RFC 4180 quoting), with the `csv` crate.

/// The fields of one line.
pub(super) fn split(line: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match reader.records().next() {
        None => Ok(Vec::new()),
        Some(Ok(row)) => Ok(row.iter().map(str::to_owned).collect()),
        Some(Err(err)) => Err(err.to_string()),
    }
}
