//! Pretraining data as the original BERT's `create_pretraining_data.py` makes it: a corpus of one sentence
//! a line with a blank line between documents, cut into `[CLS] A [SEP] B [SEP]` instances for next sentence
//! prediction, masked for the masked LM (see [`masking`]), and batched.
//!
//! Text comes in chunks ([`DocumentReader`]) and instances go out from bounded shards ([`InstanceStream`]),
//! so a corpus larger than memory streams through. Bytes in, no file system.
//!
//! Where this differs from the original on purpose:
//! - The original reads the whole corpus, shuffles documents and instances over all of it. Here instances
//!   are made and shuffled per shard (a run of consecutive documents, bounded in documents and tokens), and
//!   the random-next segment B comes from another document of the same shard. A corpus that fits in one
//!   shard (4 M tokens by default) is treated as a whole, as in the original.
//! - A corpus (or shard) of a single document keeps the original's behaviour: after 10 draws that all
//!   return the same document, the "random" B is a span of that same document from a random sentence on
//!   (labelled random next). A shard of one document draws B from the last document of the shard before
//!   it, when there is one. A corpus with fewer than two sentences is an error.
//! - Lines are tokenised with the tokenizer's special tokens active: a literal `[MASK]` in the corpus is the
//!   mask token (the original's FullTokenizer would split it into `[`, `mask`, `]`).
//! - The random generator is SplitMix64 ([`Rng`](crate::rng::Rng)), not Python's Mersenne Twister: the algorithm is the
//!   original's, draw for draw, but the numbers differ.

mod batching;
mod instance;
mod instances;
pub mod masking;
mod reader;
mod stream;

pub use batching::{batch_instances, batch_instances_padded, PretrainBatch};
pub use instance::{Document, Instance, MaskKind, PretrainingOptions};
pub use instances::{create_instances, create_training_instances, truncate_seq_pair};
pub use masking::MaskingVocab;
pub use reader::{read_documents, DocumentReader, LossyUtf8, ReaderStats, DEFAULT_MAX_DOCUMENT_TOKENS};
pub use stream::{InstanceStream, StreamOptions, StreamState};
