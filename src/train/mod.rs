pub mod checkpoint;
pub mod data;
pub mod masking;
pub mod optimizer;
pub mod pretrain;
