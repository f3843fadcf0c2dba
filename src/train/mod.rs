pub mod checkpoint;
pub mod data;
pub mod finetune;
pub mod masking;
pub mod optimizer;
pub mod pretrain;
pub mod task_data;
