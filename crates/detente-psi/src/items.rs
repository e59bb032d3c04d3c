//! A party's item list: original lines, their normalised values, duplicates folded.

use std::collections::HashMap;

use crate::normalize::normalize;

/// Distinct normalised items of a list of lines, remembering which lines produced each.
#[derive(Debug, Clone, Default)]
pub struct ItemSet {
    values: Vec<String>,
    /// For each input line, the index of its value, or `None` for skipped lines.
    line_value: Vec<Option<u32>>,
}

impl ItemSet {
    /// Normalises lines; empty lines and lines starting with `#` are skipped. Lines that
    /// normalise to the same value (e.g. domains differing only in case) become one item.
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut set = ItemSet::default();
        for line in lines {
            let value = match line.trim_start().starts_with('#') {
                true => None,
                false => normalize(line).ok(),
            };
            let slot = value.map(|v| {
                let next = set.values.len() as u32;
                *index.entry(v).or_insert_with_key(|v| {
                    set.values.push(v.clone());
                    next
                })
            });
            set.line_value.push(slot);
        }
        set
    }

    /// The distinct normalised values, in order of first appearance.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Number of input lines (including skipped ones).
    pub fn line_count(&self) -> usize {
        self.line_value.len()
    }

    /// Number of skipped (empty or comment) lines.
    pub fn skipped_lines(&self) -> usize {
        self.line_value.iter().filter(|v| v.is_none()).count()
    }

    /// Input line indices, ascending, whose value is among `value_indices`.
    pub fn lines_of(&self, value_indices: &[usize]) -> Vec<usize> {
        let mut hit = vec![false; self.values.len()];
        for &i in value_indices {
            if let Some(h) = hit.get_mut(i) {
                *h = true;
            }
        }
        self.line_value
            .iter()
            .enumerate()
            .filter_map(|(line, v)| v.filter(|&v| hit[v as usize]).map(|_| line))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_fold_and_lines_map_back() {
        let lines = [
            "Evil.com",
            "# comment",
            "",
            "evil.com.",
            "192.0.2.1",
            "EVIL.COM",
        ];
        let set = ItemSet::from_lines(lines);
        assert_eq!(set.values(), ["domain:evil.com", "ip:192.0.2.1"]);
        assert_eq!(set.skipped_lines(), 2);
        assert_eq!(set.lines_of(&[0]), [0, 3, 5]);
        assert_eq!(set.lines_of(&[1]), [4]);
        assert_eq!(set.lines_of(&[]), Vec::<usize>::new());
    }
}
