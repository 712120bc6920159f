//! Drawing a pipeline's graph for docs and reviews: Mermaid or Graphviz DOT.

use std::fmt::Write as _;

use crate::graph::Graph;
use crate::spec::Kind;

/// A drawing format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

impl Graph {
    /// The graph as text in `format`: components (shaped by kind, labelled with their type)
    /// and their wiring, error outputs dashed.
    pub fn draw(&self, format: Format) -> String {
        let mut out = String::new();
        match format {
            Format::Mermaid => {
                out.push_str("flowchart LR\n");
                for c in &self.spec.components {
                    let label = format!("{}<br/><i>{}</i>", c.name, c.type_name);
                    let shape = match c.kind {
                        Kind::Source => format!("([{label}])"),
                        Kind::Transform => format!("[{label}]"),
                        Kind::Sink => format!("[({label})]"),
                    };
                    let _ = writeln!(out, "  {}{shape}", id(&c.name));
                }
                for c in &self.spec.components {
                    for input in &c.inputs {
                        let arrow = match input.output.as_deref() {
                            None => "-->".to_owned(),
                            Some("errors") => "-. errors .->".to_owned(),
                            Some(o) => format!("-- {o} -->"),
                        };
                        let _ = writeln!(out, "  {} {arrow} {}", id(&input.component), id(&c.name));
                    }
                }
            }
            Format::Dot => {
                out.push_str("digraph pipeline {\n  rankdir=LR;\n");
                for c in &self.spec.components {
                    let shape = match c.kind {
                        Kind::Source => "invhouse",
                        Kind::Transform => "box",
                        Kind::Sink => "house",
                    };
                    let _ = writeln!(
                        out,
                        "  \"{}\" [shape={shape}, label=\"{}\\n({})\"];",
                        c.name, c.name, c.type_name
                    );
                }
                for c in &self.spec.components {
                    for input in &c.inputs {
                        let style = match input.output.as_deref() {
                            None => String::new(),
                            Some("errors") => " [style=dashed, label=\"errors\"]".to_owned(),
                            Some(o) => format!(" [label=\"{o}\"]"),
                        };
                        let _ =
                            writeln!(out, "  \"{}\" -> \"{}\"{style};", input.component, c.name);
                    }
                }
                out.push_str("}\n");
            }
        }
        out
    }
}

/// A Mermaid node id (names may hold `-`, which Mermaid reads as an arrow).
fn id(name: &str) -> String {
    name.replace('-', "_")
}
