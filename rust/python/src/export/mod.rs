//! Memory handed to Python without a copy: the view classes (`BytesView`,
//! `TensorView`, `Batch`, `Table`) and the two ways their bytes leave
//! (`dlpack`: one DLPack exporter for all three tensor-like classes;
//! `arrow`: the Arrow C data and stream interfaces). Nothing here does I/O.

pub mod arrow;
pub mod batch;
pub mod column;
pub mod dlpack;
pub mod table;
pub mod tensor;
pub mod view;
