"""Vocabulary of the newer designs (data only, no logic).

Written for this project; no text is taken from any data set. Wrappers use ``{task}`` /
``{item}`` for the benchmark-style item they wrap; follow-up templates use the slots the
mimicry module fills (``{ordinal}``, ``{a}``, ``{b}``, ``{name}``, ...). Wording meant to
*lack* chain-of-thought elicitation avoids the phrases a detector looks for ("step by
step", "show your reasoning", "explain your answer", ...); wording meant to have it uses
them on purpose.
"""

from __future__ import annotations

__all__ = [
    "AGENT_HARNESS_SYSTEM",
    "AGENT_TASK_WRAPPERS",
    "AGENT_TEST_RESULTS",
    "AUDIENCES",
    "CODE_WORDS",
    "COHORT_EXERCISES",
    "COHORT_TITLES",
    "DATA_TEMPLATES",
    "HEAVY_PREFIXES",
    "HUMAN_LANGS",
    "KNOWLEDGE_TEMPLATES",
    "LANGUAGE_TEMPLATES",
    "MATH_TEMPLATES",
    "MIMICRY_COT_ASKS",
    "MIMICRY_FIRST",
    "MIMICRY_FOLLOWUPS",
    "MIMICRY_OPENERS",
    "MIMICRY_TEMPLATED",
    "ORDINALS",
    "QUICKSTART_PROMPTS",
    "REASONING_TEMPLATES",
    "RESEARCH_COT_FORMATS",
    "RESEARCH_DIRECT_FORMATS",
    "SCIENCE_TEMPLATES",
    "SURNAMES",
    "SWEEP_COT_SUFFIXES",
    "SWEEP_PLAIN",
    "TONES",
    "TUTORIAL_COT",
    "WEEKDAYS",
    "WRITING_FORMS",
    "WRITING_TEMPLATES",
]

# -- mimicry ------------------------------------------------------------------------------
#: First turns without reasoning wording: how a person pastes a problem.
MIMICRY_FIRST: tuple[str, ...] = (
    "{task}",
    "Can you help me with this?\n\n{task}",
    "I'm stuck on this one:\n{task}",
    "Quick question from my practice set:\n{task}",
    "{task}\n\nWhat's the answer?",
    "Here's a problem I'm working on.\n\n{task}",
    "Could you solve this for me?\n{task}",
    "hey, how do I do this one\n{task}",
)

#: Asks for the reasoning, appended to a share of first turns.
MIMICRY_COT_ASKS: tuple[str, ...] = (
    "Can you walk me through it step by step?",
    "Please show your reasoning.",
    "Explain step by step, I want to understand it.",
    "Solve it step by step please.",
    "Show your work so I can follow along.",
)

#: Templated follow-ups: the same few strings, reused verbatim.
MIMICRY_TEMPLATED: tuple[str, ...] = (
    "Can you explain the second step in more detail?",
    "Now solve the variant where all the numbers are doubled.",
    "Why does that work?",
    "Can you check that answer another way?",
    "What's the most common mistake people make on this one?",
    "Can you give me a similar problem to practice?",
)

#: Varied follow-ups per task shape ("any" fits every shape); slots filled per use.
MIMICRY_FOLLOWUPS: dict[str, tuple[str, ...]] = {
    "any": (
        "I don't get the {ordinal} step, could you go over it again?",
        "why is the {ordinal} step needed?",
        "can you explain the {ordinal} step in more detail?",
        "could you double-check the {ordinal} step? I got {a} there.",
        "is there a quicker way to get to the answer?",
        "how would I explain this to a {b}-year-old?",
    ),
    "math": (
        "now solve the variant with {a} instead of {b}.",
        "what if {name} started with {a} instead?",
        "now solve the variant where everything costs {a} dollars more.",
        "how does the answer change if there are {a} weeks instead of {b}?",
        "can you turn this into a single equation with {a} as the unknown?",
    ),
    "code": (
        "now write it in {lang}.",
        "can you add a test for an empty input and one for {a} elements?",
        "what's the time complexity, and can it be faster?",
        "now solve the variant that only looks at the first {a} elements.",
        "rewrite it without any loops.",
    ),
    "mc": (
        "why is option {letter} wrong?",
        "now solve the variant with n = {a}.",
        "which option would be the second most plausible, and why?",
        "what would change if the value were {a} instead of {b}?",
    ),
}

#: Openers of varied follow-ups.
MIMICRY_OPENERS: tuple[str, ...] = ("", "Thanks! ", "Ok, ", "Hmm, ", "Got it. ", "Wait, ", "Nice. ", "Sorry, ")

ORDINALS: tuple[str, ...] = ("first", "second", "third", "fourth", "last")

# -- adaptive hydra (capability sweep) ----------------------------------------------------
#: Plain wrappers (no reasoning wording) around a sweep item.
SWEEP_PLAIN: tuple[str, ...] = (
    "{item}",
    "{item}",
    "{item}\n\nPlease give a thorough, detailed answer.",
    "Help me with this: {item}",
    "{item}\n\nBe detailed.",
    "I need a complete answer to the following.\n\n{item}",
    "{item} Thanks!",
)

#: Reasoning wording, appended to a small share of sweep items.
SWEEP_COT_SUFFIXES: tuple[str, ...] = (
    "\n\nThink step by step.",
    "\n\nShow your reasoning.",
    "\n\nPlease reason carefully and explain your reasoning.",
)

WRITING_FORMS: tuple[str, ...] = (
    "short story", "poem", "persuasive essay", "cover letter", "product description", "blog post",
    "speech", "limerick", "newsletter intro", "dialogue scene", "newspaper column", "wedding toast",
)
AUDIENCES: tuple[str, ...] = (
    "children", "engineers", "retirees", "first-year students", "investors", "a general audience",
    "nurses", "gamers", "teachers", "tourists", "small-business owners", "scientists",
)
TONES: tuple[str, ...] = (
    "humorous", "formal", "warm", "dramatic", "nostalgic", "cheerful", "skeptical", "playful", "solemn",
    "gentle",
)
HUMAN_LANGS: tuple[str, ...] = (
    "French", "Spanish", "German", "Italian", "Portuguese", "Japanese", "Chinese", "Korean", "Dutch",
    "Polish", "Turkish", "Swedish",
)
SURNAMES: tuple[str, ...] = (
    "Silva", "Novak", "Tanaka", "Okafor", "Schmidt", "Rossi", "Kowalski", "Haddad", "Larsen", "Moreau",
    "Chen", "Fischer", "Garcia", "Ivanova", "Kim", "Dubois", "Nguyen", "Petrov", "Santos", "Walsh",
)
WEEKDAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Each category's templates use exactly the same slots (so an item index maps to one text).
MATH_TEMPLATES: tuple[str, ...] = (
    "{n1} has {a} {items}. {n2} gives {n1} {b} more, then {n1} gives away {c}. How many {items} does {n1} "
    "have now?",
    "{n1} and {n2} collect {items}. {n1} collects {a} a day and {n2} collects {b} a day. How many {items} do "
    "they collect together in {c} days?",
    "A shop sells {items} in packs of {b}. {n1} buys {a} packs and gives {c} {items} to {n2}. How many {items} "
    "does {n1} keep?",
    "{n1} reads {a} pages a day and {n2} reads {b} pages a day, both about {items}. After {c} days, how many "
    "pages have they read in total?",
    "{n1} saves {a} dollars a week and {n2} saves {b} dollars a week. They spend {c} dollars on {items} "
    "together after 4 weeks. How much money is left?",
    "There are {a} {items} in a box. {n1} takes {b} of them and {n2} takes {c} of what is left. How many "
    "{items} remain in the box?",
    "{n1} is {a} years old and {n2} is {b} years older. If {n2} gets {c} {items} on each birthday, how many "
    "{items} will {n2} have received by the age of 100?",
    "A recipe by {n1} needs {a} grams of flour for {b} {items}. How much flour does {n2} need for {c} {items}?",
)
#: Science multiple choice: (subject, stem); the options are computed from the slots.
SCIENCE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("physics", "In {name}'s lab a cart starts from rest, accelerates at {a} m/s^2 for {b} s, then coasts for "
     "{c} s. How far does it travel in total?"),
    ("chemistry", "{name} dissolves {a} grams of a salt with molar mass {b} g/mol in water to make {c} L of "
     "solution. What is the concentration in mol/L?"),
    ("statistics", "{name} has a bag with {a} red and {b} blue marbles and adds {c} more red marbles. What is "
     "the probability of drawing a blue marble?"),
    ("economics", "{name} invests {a} dollars at {b}% simple annual interest. What is the investment worth "
     "after {c} years?"),
    ("biology", "A culture in {name}'s lab starts with {a} cells and grows by {b} cells per hour for {c} hours. "
     "How many cells are there at the end?"),
)
#: Words for string arguments of code tasks (two of them name one argument).
CODE_WORDS: tuple[str, ...] = tuple(
    "level radar apple stone river cloud tiger piano lemon ocean north quiet amber bread crane delta eagle "
    "flame grape honey index jelly kayak lunar maple noble orbit pearl quest robin solar tulip umbra vivid "
    "waltz xenon yacht zebra alpha bravo civic dance ember frost glide hover ivory joker karma lotus mirth "
    "nexus opera pixel quilt rhyme sugar".split()
)
WRITING_TEMPLATES: tuple[str, ...] = (
    "Write a {tone} {form} about {topic} for {audience}, about {words} words long, set in {city} in {year}.",
    "Draft a {form} on {topic} in a {tone} voice, aimed at {audience}; roughly {words} words; "
    "mention {city} and the year {year}.",
    "Compose a {tone} {form} for {audience} on the subject of {topic} ({words} words), taking place in "
    "{city}, {year}.",
)
REASONING_TEMPLATES: tuple[str, ...] = (
    "{n1} is {a} cm taller than {n2}, and {n2} is {b} cm shorter than {n3}, who is {c} cm tall. "
    "Who is the tallest of the three, and how tall is {n1}?",
    "{n1} has {a} more coins than {n2}; {n3} has {b} fewer coins than {n1}; {n2} has {c} coins. "
    "Which of them has the most coins, and how many does {n3} have?",
    "Three runners: {n1} finished {a} seconds before {n2}, {n3} finished {b} seconds after {n1}, and "
    "{n2}'s time was {c} seconds. Which runner came second? Is it true that {n3} beat {n2}?",
)
KNOWLEDGE_TEMPLATES: tuple[str, ...] = (
    "Give a short history of {topic} from {y1} to {y2} and compare it with {topic2}: the {k} most "
    "important turning points, for {audience}.",
    "What happened in the history of {topic} between {y1} and {y2}? List {k} key events and relate them "
    "to {topic2}, for {audience}.",
)
LANGUAGE_TEMPLATES: tuple[str, ...] = (
    'Translate into {lang}: "{name} bought {a} {items} in {city} on {weekday} for {b} euros."',
    'How do you say this in {lang}: "On {weekday}, {name} paid {b} euros for {a} {items} in {city}."',
    'Translate to {lang} and note the grammar of the verb: "{name} will buy {a} {items} in {city} next '
    '{weekday}; they cost {b} euros."',
)
DATA_TEMPLATES: tuple[str, ...] = (
    'Extract the customer, invoice number, date and total as JSON from: "Invoice {inv} issued to {name} '
    '{surname} on day {day} of {year}: {a} x {items} at {p} EUR each."',
    'Turn this into a CSV row with columns invoice,customer,day,year,quantity,item,unit_price: '
    '"{name} {surname}, invoice {inv}, day {day} of {year}, {a} {items} at {p} EUR."',
    'Classify this record as "domestic" or "export" and extract the fields as a JSON table row: '
    '"#{inv} {name} {surname} ordered {a} {items} ({p} EUR each) on day {day}, {year}."',
)

# -- agentic distiller --------------------------------------------------------------------
AGENT_HARNESS_SYSTEM = (
    "You are an autonomous software agent working in a fresh sandbox. Use the tools to inspect, edit and "
    "test code. When the task is done, write a complete, self-contained final report."
)
AGENT_TASK_WRAPPERS: tuple[str, ...] = (
    "New task in an empty repository.\n\n{task}\n\nUse the tools (bash, read_file, write_file, run_tests) "
    "to implement it, run the tests and iterate until they pass. Then write a detailed final report.",
    "Sandbox task #{n}:\n{task}\n\nCreate the module, write the tests, run them with run_tests and fix "
    "failures. Report the final code in full.",
    "You have a clean checkout. {task}\n\nThink through the design step by step before writing code, then "
    "implement and test it with the tools.",
    "Data task #{n}: {task}\n\nUse the python tool to compute and verify the result, then write up the "
    "complete solution.",
)
AGENT_TEST_RESULTS: tuple[str, ...] = (
    "Tool result (run_tests): {p} passed, {f} failed\nFAILED tests/test_solution.py::test_case_{k} - "
    "AssertionError: assert {x} == {y}",
    "Tool result (run_tests): {p} passed in 0.{k}s",
    "Tool result (bash): python -m pytest -q\n{p} passed, {f} failed, 1 warning in 1.{k}s",
    "Tool result (python): {x}\n",
    "Tool result (write_file): wrote solution.py ({y} lines)",
)

# -- event cohort -------------------------------------------------------------------------
COHORT_TITLES: tuple[str, ...] = (
    "Prompt Engineering 101", "Build Your First AI App", "LLMs for Data Teams", "AI Hack Night",
    "Generative AI Bootcamp", "Agents in Practice",
)
#: Exercise templates: every member of a cohort fills the same one at a synchronized moment.
COHORT_EXERCISES: tuple[str, ...] = (
    "Exercise {k}: write a prompt that summarises a text about {topic} in {n} bullet points.",
    "Exercise {k}: ask the model to classify this review as positive or negative: {review}",
    "Exercise {k}: use a few-shot prompt to translate these product names into {hlang}: {product}, {items}.",
    "Exercise {k}: get the model to write a {lang} function that reads {items} from a CSV file.",
    "Exercise {k}: give the model a persona (a {city} tour guide) and ask about {topic}.",
    "Exercise {k}: ask for a JSON object with the fields name, city and age for {name} from {city}.",
    "Exercise {k}: compare a zero-shot and a one-shot prompt on this question: what is {topic}?",
    "Exercise {k}: ask the model to critique and rewrite this sentence: {review}",
)
#: The chain-of-thought wording tutorials teach.
TUTORIAL_COT: tuple[str, ...] = (
    " Let's think step by step.",
    " Add 'think step by step' to your prompt and compare.",
    " Ask the model to show its reasoning first.",
)
#: A product launch's sample prompts, sent verbatim by many new accounts.
QUICKSTART_PROMPTS: tuple[str, ...] = (
    "Hello! What can you do?",
    "Write a haiku about a new beginning.",
    "Summarize the benefits of using an API in three bullet points.",
)

# -- research group -----------------------------------------------------------------------
RESEARCH_COT_FORMATS: tuple[str, ...] = (
    "{item}\n\nLet's think step by step.",
    "Question: {item}\nAnswer: Let's think step by step.",
    "{item}\n\nSolve the problem step by step, then write the final answer after 'Answer:'.",
)
RESEARCH_DIRECT_FORMATS: tuple[str, ...] = (
    "{item}\n\nAnswer with only the final answer.",
    "Question: {item}\nAnswer:",
)

# -- heavy user ---------------------------------------------------------------------------
HEAVY_PREFIXES: tuple[str, ...] = (
    "",
    "help me with this: ",
    "quick one - ",
    "Can you check my thinking on this? ",
    "My kid's homework: ",
    "For a report I'm writing: ",
)
