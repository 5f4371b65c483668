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
  updateFields();
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
  for (const token of result.source_tokens) {
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
      cell.title = `${result.output_tokens[i]} → ${result.source_tokens[j]}: ${weight.toFixed(3)}`;
    });
  });
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
      body: JSON.stringify({ inputs: [$("input").value], options: options() }),
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
