//! `bert-wgpu predict` (the head in config.json decides the pipeline: text-classification,
//! token-classification or question-answering) and `bert-wgpu eval` (the task's metrics on a labelled file).

use std::path::{Path, PathBuf};

use bert_wgpu::model::weights::HeadKind;
use bert_wgpu::tasks::features::FeatureSettings;
use bert_wgpu::tasks::files::read_text_file;
use bert_wgpu::tasks::pipeline::PredictInput;
use bert_wgpu::tasks::sequence::{check_text_pairs, parse_text_examples};
use bert_wgpu::tasks::span::parse_qa_examples;
use bert_wgpu::tasks::{is_regression, LabelMap, Task};
use bert_wgpu::train::task_data::TaskData;
use bert_wgpu::{Error, Result};

use super::finetune::{read_examples, WindowArgs};
use super::model_dir::ModelArg;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    bert-wgpu predict --model models/sentiment \"A gripping, funny film.\" \"Dull and lifeless.\"\n  \
    bert-wgpu predict --model models/nli --text-pair \"the king went home\" \"the king went to paris .\"\n  \
    bert-wgpu predict --model models/ner --json \"queen pride lived in london town .\"\n  \
    bert-wgpu predict --model models/qa --context \"the prince lived in new england .\" \"where did the prince live ?\"\n  \
    bert-wgpu predict --model models/sentiment --input dev.tsv --json")]
pub struct PredictArgs {
    /// A fine-tuned model (BertForSequenceClassification, BertForTokenClassification or
    /// BertForQuestionAnswering): a directory or a hub id in the Hugging Face cache.
    #[command(flatten)]
    model: ModelArg,
    /// Print the JSON of transformers' pipeline instead of a table.
    #[arg(long)]
    json: bool,
    /// Read inputs from a file: .tsv/.csv/.jsonl (.json) rows with `text` (and `text_pair`), one text per line
    /// (.txt), or SQuAD JSON / JSON lines with `question` and `context` for QA.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Sentence pairs: the second text of every given text.
    #[arg(long)]
    text_pair: Option<String>,
    /// QA: the context the questions are asked about.
    #[arg(long)]
    context: Option<String>,
    /// QA: the longest answer, in tokens.
    #[arg(long, default_value_t = 15)]
    max_answer_length: usize,
    /// QA: tokens shared by consecutive windows of a long context.
    #[arg(long, default_value_t = 128)]
    doc_stride: usize,
    /// Inputs per GPU batch.
    #[arg(long, default_value_t = 16, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch_size: usize,
    /// Texts (QA: questions).
    texts: Vec<String>,
}

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    bert-wgpu eval --model models/sentiment --data dev.tsv\n  \
    bert-wgpu eval --model models/ner --data ner-dev.conll --json")]
pub struct EvalArgs {
    /// A fine-tuned model: a directory or a hub id in the Hugging Face cache.
    #[command(flatten)]
    model: ModelArg,
    /// Labelled data in the format `finetune` reads.
    #[arg(long)]
    data: PathBuf,
    #[command(flatten)]
    window: WindowArgs,
    #[arg(long, default_value_t = 32, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch_size: usize,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
}

fn read_text(path: &Path) -> Result<String> {
    Ok(read_text_file(path)?.0)
}

pub async fn predict(args: PredictArgs) -> Result<()> {
    let bert = super::commands::load(&args.model, true).await?;
    let inputs = read_inputs(&args, bert.task_head()?.kind)?;
    let settings = FeatureSettings {
        doc_stride: args.doc_stride,
        max_answer_len: args.max_answer_length,
        ..Default::default()
    };
    let name = args.input.as_ref().map(|p| p.display().to_string());
    let predictions = bert
        .predict(&inputs, args.batch_size, settings)
        .await
        .map_err(|e| match &name {
            Some(file) => Error {
                message: format!("{file}: {}", e.message),
                ..e
            },
            None => e,
        })?;
    if args.json {
        let v = match &predictions[..] {
            [one] if args.input.is_none() => serde_json::to_value(one),
            all => serde_json::to_value(all),
        };
        outln!("{}", v.unwrap());
        return Ok(());
    }
    for (input, prediction) in inputs.iter().zip(&predictions) {
        outln!("{}", prediction.summary(input));
    }
    Ok(())
}

/// The inputs of --input, or of the TEXT arguments (with --text-pair or --context), for a head of `kind`.
fn read_inputs(args: &PredictArgs, kind: HeadKind) -> Result<Vec<PredictInput>> {
    let name = args.input.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    let ext = |e: &str| name.ends_with(e);
    let text = |text: String, text_pair: Option<String>| PredictInput::Text { text, text_pair };
    let question = |question: String, context: String| PredictInput::Question { question, context };
    let inputs: Vec<PredictInput> = match (kind, &args.input) {
        (HeadKind::Span, Some(path)) if ext(".json") => (parse_qa_examples(&read_text(path)?, &name)?.into_iter())
            .map(|e| question(e.question, e.context))
            .collect(),
        (HeadKind::Span, Some(path)) => read_qa_lines(&read_text(path)?, &name)?,
        (HeadKind::Span, None) => {
            let Some(context) = &args.context else {
                return Err(Error::new("question answering needs --context (or --input FILE)"));
            };
            args.texts
                .iter()
                .map(|q| question(q.clone(), context.clone()))
                .collect()
        }
        (_, Some(path)) if [".tsv", ".csv", ".jsonl", ".json", ".ndjson"].iter().any(|e| ext(e)) => {
            let rows = parse_text_examples(&read_text(path)?, &name)?;
            check_text_pairs(&rows, &name, false)?;
            rows.into_iter().map(|r| text(r.text, r.text_pair)).collect()
        }
        (_, Some(path)) => (read_text(path)?.lines())
            .filter(|l| !l.trim().is_empty())
            .map(|l| text(l.to_string(), args.text_pair.clone()))
            .collect(),
        (_, None) => args
            .texts
            .iter()
            .map(|t| text(t.clone(), args.text_pair.clone()))
            .collect(),
    };
    if inputs.is_empty() {
        let what = if kind == HeadKind::Span { "questions" } else { "texts" };
        return Err(Error::new(match &args.input {
            Some(_) => format!("{name}: no {what} in the file"),
            None if kind == HeadKind::Span => {
                "no questions: give QUESTION arguments with --context, or --input FILE".into()
            }
            None => "no texts: give TEXT arguments or --input FILE".into(),
        }));
    }
    Ok(inputs)
}

/// JSON lines of `{"question": .., "context": ..}`; errors name the line.
fn read_qa_lines(text: &str, file: &str) -> Result<Vec<PredictInput>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            Error::new(format!(
                "{file}:{}: invalid JSON at column {}; expected JSON lines of {{\"question\": ..., \"context\": ...}} \
                 (or SQuAD JSON in a .json file)",
                i + 1,
                e.column()
            ))
        })?;
        let field = |k: &str| -> Result<String> {
            (v[k].as_str().map(str::to_string))
                .ok_or_else(|| Error::new(format!("{file}:{}: missing string field {k:?}", i + 1)))
        };
        out.push(PredictInput::Question {
            question: field("question")?,
            context: field("context")?,
        });
    }
    Ok(out)
}

pub async fn eval(args: EvalArgs) -> Result<()> {
    let bert = super::commands::load(&args.model, true).await?;
    let kind = bert.task_head()?.kind;
    let task = Task::from(kind);
    let regression = kind == HeadKind::Sequence && is_regression(&bert.config);
    let labels = match task.labelled(regression) {
        false => None,
        true => Some(LabelMap::from_config(&bert.config).ok_or_else(|| {
            Error::new(format!(
                "{}: config.json has no id2label to map the data's labels",
                args.model.display()
            ))
        })?),
    };
    let settings = args.window.settings(&bert.config, 512)?;
    let examples = read_examples(task, &args.data, None)?;
    let file = args.data.display().to_string();
    let data = TaskData::new(task, &file, examples, &bert.tokenizer, labels, settings, true)?;
    let (metrics, _) = data.evaluate(&bert, args.batch_size).await?;
    if args.json {
        outln!("{}", serde_json::to_string(&metrics).unwrap());
    } else {
        outln!("{}: {} examples", file, data.examples.len());
        for (name, value) in &metrics.0 {
            outln!("  {name:<12} {value:.4}");
        }
    }
    Ok(())
}
