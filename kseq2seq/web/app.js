// The kseq2seq demo page: reads the served models, sends the form to the demo endpoint
// (POST /kseq2seq/v1/models/<name>:generate) and draws the outputs and the attention heatmap.
"use strict";

const $ = (id) => document.getElementById(id);
const API = "/kseq2seq/v1/models";
const PLACEHOLDERS = {
  dialogue: "Turns separated by ' ||| '",
  data_to_text: "name[The Eagle], eatType[coffee shop], food[French]",
  summarization: "Paste an article",
};

// Models whose input is a file: what the file picker accepts, and what attention columns are.
const FILE_INPUTS = {
  image: { accept: "image/*", label: "Image (JPEG, PNG, GIF, BMP)", columns: "image grid cells, row by row" },
  audio: { accept: "audio/wav,.wav", label: "Audio (16-bit PCM WAV)", columns: "audio, in time order" },
};
let fileInput = null;  // the selected model's FILE_INPUTS entry, or null for text
let fields = null;  // a data-to-text model's attributes -> values seen in training: the record form, or null

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function updateFields() {
  const sampler = $("sampler").value;
  document.querySelectorAll(".beam").forEach((e) => { e.hidden = sampler !== "beam"; });
  document.querySelectorAll(".sample").forEach((e) => { e.hidden = sampler !== "sample"; });
}

async function loadModels() {
  let data;
  try {
    const response = await fetch(API);
    data = await response.json();
  } catch (error) {
    showError(`Could not reach the server: ${error}`);
    return;
  }
  const select = $("model");
  select.replaceChildren();
  for (const model of data.models) {
    const option = new Option(model.name, model.name);
    option.dataset.model = JSON.stringify(model);
    select.add(option);
  }
  selectModel();
}

function selectModel() {
  const option = $("model").selectedOptions[0];
  if (!option) return;
  const model = JSON.parse(option.dataset.model);
  $("model-info").textContent = [model.task, model.preset, model.version && `version ${model.version}`]
    .filter(Boolean).join(" · ");
  if (!model.demo) {
    showError("The web demo is off for this model: the server found no trained task (model.keras) " +
              "beside its versions. The REST API still answers.");
    $("run").disabled = true;
    return;
  }
  const config = model.generation_config || {};
  $("sampler").value = config.sampler || "greedy";
  $("num-beams").value = config.num_beams || 4;
  $("nbest").value = config.nbest || 1;
  $("input").placeholder = PLACEHOLDERS[model.task] || "Type a sentence";
  fileInput = FILE_INPUTS[model.input] || null;
  fields = model.fields || null;
  $("input").hidden = fileInput !== null || fields !== null;
  $("file").hidden = fileInput === null;
  $("file").accept = fileInput ? fileInput.accept : "";
  $("record").hidden = fields === null;
  if (fields) buildRecordForm(fields);
  $("input-label").textContent = fileInput ? fileInput.label : fields ? "Record (leave a field empty to omit it)"
    : "Input";
  $("input-label").htmlFor = fileInput ? "file" : fields ? "" : "input";
  $("attention-caption").textContent = "(best output; rows: output tokens, columns: " +
    (fileInput ? fileInput.columns : "source tokens") + ")";
  updateFields();
}

// One field per attribute, in the training records' order; closed-class values offered in a list.
function buildRecordForm(modelFields) {
  const box = $("record");
  box.replaceChildren();
  Object.entries(modelFields).forEach(([attribute, values], i) => {
    const label = document.createElement("label");
    label.textContent = attribute;
    const input = document.createElement("input");
    input.dataset.attribute = attribute;
    label.append(input);
    if (values.length) {
      const list = document.createElement("datalist");
      list.id = `field-${i}-values`;
      values.forEach((value) => list.append(new Option(value)));
      input.setAttribute("list", list.id);
      label.append(list);
    } else {
      input.placeholder = "any value";
    }
    box.append(label);
  });
}

function currentRecord() {
  const record = {};
  $("record").querySelectorAll("input").forEach((input) => {
    if (input.value.trim()) record[input.dataset.attribute] = input.value.trim();
  });
  if (!Object.keys(record).length) throw new Error("Fill in at least one field of the record.");
  return record;
}

function options() {
  const sampler = $("sampler").value;
  const chosen = { sampler };
  if (sampler === "beam") {
    chosen.num_beams = Number($("num-beams").value);
    chosen.nbest = Number($("nbest").value);
  } else if (sampler === "sample") {
    chosen.temperature = Number($("temperature").value);
    chosen.seed = Number($("seed").value);
  }
  return chosen;
}

function drawOutputs(result) {
  const list = $("outputs");
  list.replaceChildren();
  result.texts.forEach((text, i) => {
    const item = document.createElement("li");
    const output = document.createElement("span");
    output.className = "output";
    output.textContent = text;
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `score ${result.scores[i].toFixed(3)}`;
    item.append(output, score);
    list.append(item);
  });
}

function drawAttention(result) {
  const table = $("attention");
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  head.append(document.createElement("th"));
  // A file's attention columns (grid cells, audio steps) have no tokens: they are numbered.
  const columns = result.source_tokens.length ? result.source_tokens
    : (result.attention[0] || []).map((_, j) => String(j + 1));
  for (const token of columns) {
    const th = document.createElement("th");
    th.textContent = token.trim() === "" ? "␣" : token;  // a character tokenizer's space stays visible
    head.append(th);
  }
  const body = table.createTBody();
  result.attention.forEach((weights, i) => {
    const row = body.insertRow();
    const th = document.createElement("th");
    th.textContent = result.output_tokens[i];
    row.append(th);
    weights.forEach((weight, j) => {
      const cell = row.insertCell();
      cell.className = "cell";
      cell.style.background = `rgba(36, 59, 85, ${weight})`;
      cell.title = `${result.output_tokens[i]} → ${columns[j]}: ${weight.toFixed(3)}`;
    });
  });
}

// The attention drawn over the input itself: each output token's weights darken the image grid cells it
// does not attend to; for audio, the log-mel spectrogram above the attention rows, on one time axis.
async function drawOverInput(result, file) {
  const box = $("drawing");
  box.replaceChildren();
  if (result.attention_grid && file) {
    const [height, width] = result.attention_grid;
    const image = await createImageBitmap(file);
    const size = 128;
    result.attention.forEach((weights, i) => {
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = size;
      const context = canvas.getContext("2d");
      context.drawImage(image, 0, 0, size, size);
      const top = Math.max(...weights) || 1;
      weights.forEach((weight, j) => {
        context.fillStyle = `rgba(0, 0, 0, ${0.75 * (1 - weight / top)})`;
        context.fillRect((j % width) * size / width, Math.floor(j / width) * size / height, size / width,
                         size / height);
      });
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.textContent = result.output_tokens[i];
      figure.append(canvas, caption);
      box.append(figure);
    });
  } else if (result.spectrogram) {
    box.append(spectrogramCanvas(result.spectrogram), attentionCanvas(result, result.spectrogram[0].length));
  }
}

const PIXELS_PER_FRAME = 2;

function spectrogramCanvas(spectrogram) {
  const bins = spectrogram.length, frames = spectrogram[0].length;
  const values = spectrogram.flat();
  const low = Math.min(...values), high = Math.max(...values);
  const canvas = document.createElement("canvas");
  canvas.width = frames * PIXELS_PER_FRAME;
  canvas.height = bins * 2;
  const context = canvas.getContext("2d");
  spectrogram.forEach((row, bin) => row.forEach((value, frame) => {
    const level = Math.round(255 * (value - low) / ((high - low) || 1));
    context.fillStyle = `rgb(${level}, ${level}, ${level})`;
    context.fillRect(frame * PIXELS_PER_FRAME, (bins - 1 - bin) * 2, PIXELS_PER_FRAME, 2);  // low bins at the bottom
  }));
  return canvas;
}

function attentionCanvas(result, frames) {
  const rowHeight = 12, steps = result.attention[0] ? result.attention[0].length : 1;
  const canvas = document.createElement("canvas");
  canvas.width = frames * PIXELS_PER_FRAME;
  canvas.height = result.attention.length * rowHeight;
  const context = canvas.getContext("2d");
  const stepWidth = canvas.width / steps;  // each listener step covers frames / steps frames
  result.attention.forEach((weights, i) => weights.forEach((weight, j) => {
    context.fillStyle = `rgba(36, 59, 85, ${weight})`;
    context.fillRect(j * stepWidth, i * rowHeight, stepWidth, rowHeight - 1);
  }));
  return canvas;
}

function readFile(file) {
  // Base64 without the data-URL prefix: TF Serving's {"b64": ...} convention for bytes.
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result.slice(reader.result.indexOf(",") + 1));
    reader.onerror = () => reject(new Error(`Could not read ${file.name}: ${reader.error}`));
    reader.readAsDataURL(file);
  });
}

async function currentInput() {
  if (fields) return currentRecord();
  if (!fileInput) return $("input").value;
  const file = $("file").files[0];
  if (!file) throw new Error(`Choose a file first: ${fileInput.label}.`);
  return { b64: await readFile(file) };
}

async function generate(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("run").disabled = true;
  try {
    const name = $("model").value;
    const response = await fetch(`${API}/${encodeURIComponent(name)}:generate`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ inputs: [await currentInput()], options: options() }),
    });
    let data;
    try {
      data = await response.json();
    } catch (error) {
      throw new Error(`The server answered ${response.status} without a JSON body.`);
    }
    if (!response.ok) throw new Error(data.error || `The server answered ${response.status}.`);
    drawOutputs(data.results[0]);
    drawAttention(data.results[0]);
    await drawOverInput(data.results[0], fileInput ? $("file").files[0] : null);
    $("latency").textContent = `${data.latency_ms.toFixed(1)} ms`;
    $("results").hidden = false;
  } catch (error) {
    $("results").hidden = true;
    showError(error.message || String(error));
  } finally {
    $("run").disabled = false;
  }
}

$("sampler").addEventListener("change", updateFields);
$("model").addEventListener("change", selectModel);
$("form").addEventListener("submit", generate);
loadModels();
