//! Training: the data pipeline of the original `create_pretraining_data.py` (corpus, instances, masking),
//! the pretraining recipe and step (MLM + NSP), fine-tuning of the task heads, the optimizer and
//! checkpoints.

pub mod checkpoint;
pub mod corpus;
pub mod data;
pub mod finetune;

pub mod optimizer;
pub mod pretrain;
pub mod recipe;
pub mod task_data;
