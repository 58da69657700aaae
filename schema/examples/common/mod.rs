//! What the cost examples measure on: the benchmark's notebook shape, 200
//! code cells of about 2 KB.
use schema::{CellType, NotebookDoc, Placement};

pub fn two_hundred_cells() -> NotebookDoc {
    let mut nb = NotebookDoc::create("n").unwrap();
    for i in 0..200 {
        let source: String = format!("# cell {i}\n")
            .chars()
            .chain(std::iter::repeat_n('x', 2038))
            .collect();
        nb.create_cell(CellType::Code, Placement::End, &source)
            .unwrap();
    }
    nb
}
