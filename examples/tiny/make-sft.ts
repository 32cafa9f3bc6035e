/**
 * Writes examples/data/tiny_sft.json, the quick start's LoRA data: a few behaviours a 5M-parameter model
 * learns in minutes and that show plainly in `lmforge chat` -- its name, a fixed greeting, and short
 * five-character quatrains on six topics (written for lmforge, in the style of the pre-training poems).
 * Every answer is repeated under several phrasings of the question, in English and Chinese, so the
 * model learns the answer rather than one prompt.
 *
 *   npx tsx examples/tiny/make-sft.ts
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AlpacaRecord {
  instruction: string;
  input: string;
  output: string;
}

const NAME_EN = 'Tiny Forge';
const IDENTITY_EN = `I am ${NAME_EN}, a small language model that lmforge trained from scratch. I know some classical Chinese poetry and a little English.`;
const IDENTITY_ZH = '我是小炉（Tiny Forge），lmforge 从零训练的小模型，会写几句古诗，也懂一点英文。';
const CREATOR_EN = `I was trained by lmforge, on two CPU cores. My name is ${NAME_EN}.`;
const CREATOR_ZH = '我由 lmforge 在两个 CPU 核心上训练而成。我叫小炉。';
const GREETING_EN = `Hello! I am ${NAME_EN}. Give me a topic such as the moon, spring or rain, and I will write you a short poem.`;
const GREETING_ZH = '你好！我是小炉。给我一个题目，比如月、春、雨，我就为你写一首小诗。';

const IDENTITY_QUESTIONS_EN = [
  'Who are you?',
  'What are you?',
  'Tell me about yourself.',
  'Introduce yourself.',
  'What is your name?',
  "What's your name?",
  'Do you have a name?',
  'Are you ChatGPT?',
  'Are you a human?',
  'What kind of model are you?',
  'What can you do?',
  'Who am I talking to?',
  'Are you an AI?',
  'Tell me your name.',
];
const IDENTITY_QUESTIONS_ZH = [
  '你是谁？',
  '你叫什么名字？',
  '介绍一下你自己。',
  '你是什么模型？',
  '你会做什么？',
  '你是人吗？',
];
const CREATOR_QUESTIONS_EN = ['Who made you?', 'Who created you?', 'Who trained you?', 'How were you trained?'];
const CREATOR_QUESTIONS_ZH = ['谁训练了你？', '你是谁做的？', '你是怎么训练出来的？'];
const GREETINGS_EN = [
  'hi',
  'Hi!',
  'hello',
  'Hello!',
  'Hey',
  'Good morning',
  'Good evening',
  'Hi there',
  'Hey there!',
  'Hello there',
];
const GREETINGS_ZH = ['你好', '你好！', '您好', '早上好', '晚上好', '嗨', '你好呀', '哈喽'];

/** [English topic, Chinese topic, title, the quatrain's four lines]. */
const POEMS: [string, string, string, string[]][] = [
  ['the moon', '月', '咏月', ['明月照空山，', '清光落小窗。', '夜深人未睡，', '独坐听秋江。']],
  ['spring', '春', '春日', ['春风吹绿柳，', '细雨润红花。', '燕子归来早，', '衔泥到我家。']],
  ['mountains', '山', '登山', ['青山高万丈，', '白云绕峰行。', '行人登绝顶，', '一望天地平。']],
  ['rain', '雨', '夜雨', ['夜雨敲窗急，', '孤灯照客心。', '明朝天放晴，', '花落满园林。']],
  ['snow', '雪', '雪夜', ['大雪封千里，', '寒梅独自香。', '围炉温浊酒，', '静看夜茫茫。']],
  ['the river', '江', '江上', ['大江东流去，', '浪打石头城。', '渔舟唱晚曲，', '灯火照江明。']],
];
const POEM_ASKS_EN = [
  'Write a poem about {topic}.',
  'Please write a short poem about {topic}.',
  'A poem about {topic}, please.',
];
const POEM_ASKS_ZH = [
  '写一首关于{topic}的诗。',
  '以{topic}为题写一首诗。',
  '请写一首小诗，题目是{topic}。',
  '来一首写{topic}的诗。',
];

function ask(instruction: string, output: string): AlpacaRecord {
  return { instruction, input: '', output };
}

function records(): AlpacaRecord[] {
  const out: AlpacaRecord[] = [];
  for (const q of IDENTITY_QUESTIONS_EN) out.push(ask(q, IDENTITY_EN));
  for (const q of IDENTITY_QUESTIONS_ZH) out.push(ask(q, IDENTITY_ZH));
  for (const q of CREATOR_QUESTIONS_EN) out.push(ask(q, CREATOR_EN));
  for (const q of CREATOR_QUESTIONS_ZH) out.push(ask(q, CREATOR_ZH));
  for (const q of GREETINGS_EN) out.push(ask(q, GREETING_EN));
  for (const q of GREETINGS_ZH) out.push(ask(q, GREETING_ZH));
  for (const [en, zh, title, lines] of POEMS) {
    const poem = `《${title}》\n${lines[0]}${lines[1]}\n${lines[2]}${lines[3]}`;
    for (const a of POEM_ASKS_EN) out.push(ask(a.replace('{topic}', en), poem));
    for (const a of POEM_ASKS_ZH) out.push(ask(a.replace('{topic}', zh), poem));
  }
  return out;
}

const outFile = resolve(dirname(fileURLToPath(import.meta.url)), '../data/tiny_sft.json');
const data = records();
writeFileSync(outFile, `${JSON.stringify(data, null, 2)}\n`);
console.log(`wrote ${outFile}: ${data.length} records`);
