//! Output of the admin commands: every command builds one serializable report, printed
//! either as aligned text tables or as one pretty JSON document.

use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON document for scripts (shapes documented in the README).
    Json,
}

/// A command's result: its report, plus the one-line failures of single resources
/// (the rest of the report still printed; the exit status says something failed).
pub struct Outcome {
    pub failures: Vec<String>,
}

/// What a report must give to be printed either way.
pub trait Report: Serialize {
    fn tables(&self) -> Vec<Table>;
}

pub fn print(report: &impl Report, format: OutputFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::other)?;
            writeln!(out)
        }
        OutputFormat::Table => {
            let tables = report.tables();
            for (i, table) in tables.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(table.render().as_bytes())?;
            }
            Ok(())
        }
    }
}

/// Left-aligned columns separated by two spaces, an optional title line above.
#[derive(Debug, Default)]
pub struct Table {
    pub title: Option<String>,
    pub headers: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table { title: None, headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Table {
        self.title = Some(title.into());
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        if let Some(t) = &self.title {
            out.push_str(t);
            out.push('\n');
        }
        let headers: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` for an absent value, as Kafka's tools print it.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// A topic id as Kafka prints it (URL-safe base64, no padding); None for the all-zero
/// id that brokers without topic ids send.
pub fn kafka_uuid(id: &uuid::Uuid) -> Option<String> {
    use base64::Engine as _;
    (!id.is_nil()).then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes()))
}

pub fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Demo {
        names: Vec<String>,
    }

    impl Report for Demo {
        fn tables(&self) -> Vec<Table> {
            let mut t = Table::new(&["NAME", "LEN"]).titled("demo");
            for n in &self.names {
                t.row(vec![n.clone(), n.len().to_string()]);
            }
            vec![t, Table::new(&["EMPTY"])]
        }
    }

    #[test]
    fn tables_align_and_json_is_one_document() {
        let d = Demo { names: vec!["a".into(), "longer-name".into()] };
        let mut out = Vec::new();
        print(&d, OutputFormat::Table, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "demo\nNAME         LEN\na            1\nlonger-name  11\n\nEMPTY\n"
        );
        let mut out = Vec::new();
        print(&d, OutputFormat::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"names": ["a", "longer-name"]}));
    }

    #[test]
    fn helpers() {
        assert_eq!(or_dash(None::<i64>), "-");
        assert_eq!(or_dash(Some(5)), "5");
        assert_eq!(join_ids(&[1, 2, 3]), "1,2,3");
        assert_eq!(join_ids(&[]), "");
        assert_eq!(kafka_uuid(&uuid::Uuid::nil()), None);
        let id = uuid::Uuid::from_u128(0x7bbf43f2981c4e6204d96cb580c16dca);
        assert_eq!(kafka_uuid(&id).unwrap(), "e79D8pgcTmIE2Wy1gMFtyg");
    }
}
