from kseq2seq.tasks.task import Seq2SeqTask
from kseq2seq.tasks.translation import Translator
from kseq2seq.tasks.summarization import Summarizer
from kseq2seq.tasks.dialogue import Responder
from kseq2seq.tasks.captioning import Captioner
from kseq2seq.tasks.data_to_text import DataToText
