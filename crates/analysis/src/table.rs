//! Plain-text tables for the terminal: columns as wide as their widest cell, names
//! left-aligned and numbers right-aligned.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// The rows as lines of text, each ending in a newline, trailing spaces trimmed; `align(i)`
/// says how column `i` lines up. Widths count characters, not bytes (`—`, `µs`).
pub(crate) fn render<R: AsRef<[String]>>(rows: &[R], align: impl Fn(usize) -> Align) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.as_ref().iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(cell.chars().count()));
            match align(i) {
                Align::Left => line.push_str(cell),
                Align::Right => line.push_str(&pad),
            }
            match align(i) {
                Align::Left => line.push_str(&pad),
                Align::Right => line.push_str(cell),
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Two columns of names, then numbers: the layout of most tables here.
pub(crate) fn names_then_numbers(column: usize) -> Align {
    if column < 2 {
        Align::Left
    } else {
        Align::Right
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_characters() {
        let rows = vec![
            vec!["key".to_owned(), "µs".to_owned(), "1".to_owned()],
            vec!["a".to_owned(), "—".to_owned(), "12345".to_owned()],
        ];
        let text = render(&rows, |i| if i < 2 { Align::Left } else { Align::Right });
        assert_eq!(text, "key  µs      1\na    —   12345\n");
    }
}
