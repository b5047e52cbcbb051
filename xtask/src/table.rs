//! The one renderer of the tables the commands print (through comfy-table): on a terminal a
//! table fits its width — long columns (titles, notes, paths) wrap, short ones stay whole — and
//! piped, nothing is wrapped or cut.

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement};

/// A column: its header and how it behaves when the table is too wide.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    header: &'static str,
    wraps: bool,
    right: bool,
}

impl Column {
    /// A column that is never wrapped (ids, versions, statuses: a reader scans them whole).
    pub fn whole(header: &'static str) -> Column {
        Column {
            header,
            wraps: false,
            right: false,
        }
    }

    /// A column that wraps when the table is too wide (titles, notes, lists, paths).
    pub fn wrapping(header: &'static str) -> Column {
        Column {
            wraps: true,
            ..Column::whole(header)
        }
    }

    /// The same column, its cells aligned right (numbers, durations).
    pub fn right(self) -> Column {
        Column {
            right: true,
            ..self
        }
    }
}

/// A table being filled: columns, then rows of cells (which may hold colours from
/// [`crate::console::paint`]; widths count what is seen, not the escape codes).
pub struct Table {
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: &[Column]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row: one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// The table as text, a line per row (more where a cell wraps), each ending in a newline.
    /// With a `width` the table fits in it where the whole columns allow; without one (piped)
    /// every cell is printed in full. Columns are two spaces apart, with no borders.
    pub fn render(&self, width: Option<u16>) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_style(comfy_table::presets::NOTHING)
            .force_no_tty()
            .set_header(
                self.columns
                    .iter()
                    .map(|c| crate::console::paint(c.header, crate::console::Style::Bold)),
            );
        for row in &self.rows {
            table.add_row(row);
        }
        match width {
            Some(w) => {
                table
                    .set_width(w)
                    .set_content_arrangement(ContentArrangement::Dynamic);
            }
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        let last = self.columns.len().saturating_sub(1);
        for (i, (spec, column)) in self.columns.iter().zip(table.column_iter_mut()).enumerate() {
            column.set_padding((0, if i == last { 0 } else { 2 }));
            if !spec.wraps {
                column.set_constraint(ColumnConstraint::ContentWidth);
            }
            if spec.right {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        let mut out = String::new();
        for line in table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(&[
            Column::whole("id"),
            Column::wrapping("title"),
            Column::whole("time").right(),
        ]);
        t.row(vec![
            "CVE-2024-38095".into(),
            "System.Formats.Asn1 denial of service when decoding a crafted X.509 certificate"
                .into(),
            "1.5s".into(),
        ]);
        t.row(vec!["CVE-2025-1".into(), "short".into(), "12.0s".into()]);
        t
    }

    #[test]
    fn piped_nothing_is_cut_and_a_width_is_kept_by_wrapping_the_long_column() {
        let piped = sample().render(None);
        assert_eq!(piped.lines().count(), 3, "{piped}");
        assert!(piped.contains("crafted X.509 certificate  "), "{piped}");
        assert!(piped.lines().all(|l| l == l.trim_end()));

        let narrow = sample().render(Some(50));
        assert!(narrow.lines().count() > 3, "{narrow}");
        for line in narrow.lines() {
            assert!(
                line.chars().count() <= 50,
                "{line:?} is wider than 50\n{narrow}"
            );
        }
        assert!(
            narrow.contains("CVE-2024-38095"),
            "ids are never wrapped: {narrow}"
        );
        assert!(
            narrow.contains(" 1.5s") && narrow.contains("12.0s"),
            "{narrow}"
        );
        // Every word of the title is still there.
        let words: Vec<&str> = narrow.split_whitespace().collect();
        for word in "denial of service when decoding a crafted X.509 certificate".split(' ') {
            assert!(words.contains(&word), "{word} lost: {narrow}");
        }
    }
}
