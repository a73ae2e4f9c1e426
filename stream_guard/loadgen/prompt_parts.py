"""Vocabulary of the built-in prompt generator (data only, no logic).

Written for this project; no text is taken from any data set. Templates use
``str.format`` slots named after the lists below.
"""

from __future__ import annotations

__all__ = [
    "AGENT_FILES",
    "AGENT_INSTRUCTIONS",
    "AGENT_TOOL_RESULTS",
    "BATCH_TEMPLATES",
    "CHAT_TEMPLATES",
    "CITIES",
    "CODE_SPECS",
    "COMMON_SHORT",
    "COT_PHRASES",
    "COT_TEMPLATES",
    "ERRORS",
    "FRAGMENTS",
    "ITEMS",
    "LANGS",
    "MC_SUBJECTS",
    "NAMES",
    "PRODUCTS",
    "REVIEW_BITS",
    "SAAS_DOMAINS",
    "TOPICS",
    "UNITS",
]

TOPICS: tuple[str, ...] = (
    "quantum computing",
    "the French Revolution",
    "compound interest",
    "photosynthesis",
    "the Kubernetes scheduler",
    "sourdough baking",
    "marathon training",
    "index funds",
    "the Roman Empire's economy",
    "black holes",
    "CRISPR",
    "jazz harmony",
    "climate models",
    "the TCP handshake",
    "German grammar cases",
    "supply and demand",
    "vaccines",
    "sleep cycles",
    "Byzantine fault tolerance",
    "the Monty Hall problem",
    "impressionist painting",
    "Rust lifetimes",
    "SQL window functions",
    "React hooks",
    "gradient descent",
    "the stock market",
    "mortgage refinancing",
    "plate tectonics",
    "the immune system",
    "the Cold War",
    "Keynesian economics",
    "container gardening",
    "chess openings",
    "guitar chord voicings",
    "public speaking",
    "negotiating a salary",
    "time management",
    "home espresso",
    "bird migration",
    "ocean currents",
    "3D printing",
    "electric cars",
    "solar panels",
    "the history of the internet",
    "Stoic philosophy",
    "game theory",
    "Bayesian statistics",
    "linear regression",
    "hash tables",
    "binary search trees",
    "OAuth 2.0",
    "Docker networking",
    "PostgreSQL indexes",
    "the Python GIL",
    "Kafka consumer groups",
    "Shakespeare's sonnets",
    "the Silk Road",
    "volcanoes",
    "dog training",
    "meal prepping",
    "learning Japanese",
    "writing a cover letter",
    "startup fundraising",
    "product-market fit",
    "agile retrospectives",
    "tax deductions",
    "the Pythagorean theorem",
    "prime numbers",
    "probability distributions",
    "calculus limits",
    "cybersecurity basics",
    "password managers",
    "VPNs",
    "regex lookaheads",
    "CSS flexbox",
    "TypeScript generics",
    "unit testing",
    "microservices",
    "event sourcing",
    "GraphQL",
)

CITIES: tuple[str, ...] = (
    "Lisbon",
    "Kyoto",
    "Mexico City",
    "Prague",
    "Cape Town",
    "Vancouver",
    "Seoul",
    "Istanbul",
    "Buenos Aires",
    "Edinburgh",
    "Hanoi",
    "Marrakesh",
    "Copenhagen",
    "Melbourne",
    "Chicago",
)

LANGS: tuple[str, ...] = (
    "Python",
    "JavaScript",
    "TypeScript",
    "Go",
    "Rust",
    "Java",
    "C++",
    "C#",
    "Kotlin",
    "SQL",
    "Bash",
    "Ruby",
    "PHP",
    "Swift",
    "Scala",
)

ERRORS: tuple[str, ...] = (
    "TypeError: 'NoneType' object is not subscriptable",
    "KeyError: 'user_id'",
    "panic: runtime error: index out of range [3] with length 3",
    "error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable",
    "java.lang.NullPointerException at com.example.Service.handle(Service.java:42)",
    "Uncaught (in promise) TypeError: Cannot read properties of undefined (reading 'map')",
    "ModuleNotFoundError: No module named 'pandas'",
    'ERROR: duplicate key value violates unique constraint "users_email_key"',
    "segmentation fault (core dumped)",
    "fatal: refusing to merge unrelated histories",
)

NAMES: tuple[str, ...] = (
    "Maria",
    "James",
    "Aisha",
    "Kenji",
    "Sofia",
    "Liam",
    "Priya",
    "Mateo",
    "Chloe",
    "Omar",
    "Elena",
    "Noah",
    "Fatima",
    "Lucas",
    "Mei",
    "Ethan",
    "Zara",
    "Diego",
    "Hannah",
    "Ravi",
    "Olivia",
    "Tariq",
    "Ingrid",
    "Samuel",
    "Yuki",
    "Carmen",
    "Felix",
    "Amara",
    "Jonas",
    "Lena",
)

ITEMS: tuple[tuple[str, str], ...] = (
    ("apple", "apples"),
    ("marble", "marbles"),
    ("book", "books"),
    ("cupcake", "cupcakes"),
    ("pencil", "pencils"),
    ("sticker", "stickers"),
    ("egg", "eggs"),
    ("card", "cards"),
    ("shell", "shells"),
    ("cookie", "cookies"),
    ("ticket", "tickets"),
    ("plant", "plants"),
    ("toy car", "toy cars"),
    ("bracelet", "bracelets"),
    ("notebook", "notebooks"),
    ("orange", "oranges"),
    ("balloon", "balloons"),
    ("candle", "candles"),
)

UNITS: tuple[str, ...] = ("dollars", "euros", "minutes", "hours", "kilometers", "liters", "pages")

COMMON_SHORT: tuple[str, ...] = (
    "hi",
    "hello",
    "thanks!",
    "thank you",
    "continue",
    "go on",
    "can you make it shorter?",
    "what can you do?",
    "explain that again more simply",
    "ok",
    "translate that to Spanish",
    "give me another example",
    "why?",
    "make it more formal",
)

CHAT_TEMPLATES: tuple[str, ...] = (
    "Can you explain {topic} in simple terms?",
    "What are the pros and cons of {topic} compared to {topic2}?",
    "Write a short poem about {topic}.",
    "I'm preparing a presentation on {topic}. Can you give me an outline with 5 sections?",
    "How do I fix this error in {lang}? {error}",
    "Give me a {n}-day itinerary for {city} on a moderate budget.",
    "Help me write an email to my manager asking for {n} days off next month.",
    "What's the best way to learn {topic} if I only have {n} hours a week?",
    "Summarize the key ideas of {topic} in {n} bullet points.",
    "Write a {lang} function that reverses the words in a sentence.",
    "Is it true that {topic} is overrated? Give me both sides.",
    "Explain step by step how to set up {topic} for a small team.",
    "My friend {name} says {topic} is simple. Can you give me three common misconceptions?",
    "Rewrite this paragraph to sound more professional:",
    "What questions should I ask in an interview about {topic}?",
    "Create a weekly study plan for {topic} and {topic2}.",
    "Translate 'where is the nearest train station' into French, German and Japanese.",
    "Suggest {n} names for a podcast about {topic}.",
    "Compare {lang} and {lang2} for building a web backend.",
    "Review my {lang} code and suggest improvements:",
    "What happened in {city} that made it famous historically?",
    "Plan a birthday dinner for {n} people, one of them is vegetarian.",
    "Why does my {lang} program get slower over time? It processes a queue in a loop.",
    "Write a cover letter opening for a job related to {topic}.",
    "Can you tell me a fun fact about {topic}?",
)

FRAGMENTS: tuple[str, ...] = (
    "Our team has been using this approach for about a year and it worked fine until we "
    "scaled to several hundred users, at which point requests started timing out.",
    "def load(path):\n    with open(path) as f:\n        data = json.load(f)\n"
    "    return [r for r in data if r['active']]\n",
    "The meeting covered the quarterly roadmap, the hiring plan for the platform team, and "
    "the migration of the billing service to the new database cluster.",
    "SELECT customer_id, SUM(amount) AS total\nFROM orders\nWHERE created_at > now() - interval '30 days'\n"
    "GROUP BY customer_id\nORDER BY total DESC;\n",
    "I have tried restarting the service, clearing the cache and reinstalling the package, "
    "but the problem comes back after a few hours.",
    "const res = await fetch(url);\nconst items = await res.json();\nsetState(items.map(i => i.name));\n",
    "The report states that revenue grew by twelve percent while operating costs rose by "
    "nine percent, mostly due to cloud spending and new hires in support.",
    "Background: I am a second-year student and I need to explain this to classmates who "
    "have no technical background, in under five minutes.",
    "for i in range(len(items)):\n    for j in range(len(items)):\n"
    "        if items[i] == items[j] and i != j:\n            dupes.append(items[i])\n",
    "Constraints: it has to run on a laptop, the budget is small, and we cannot use any "
    "paid services. Please keep the answer practical.",
)

SAAS_DOMAINS: dict[str, tuple[str, ...]] = {
    "support": (
        "My order #{num} hasn't arrived yet, it was due {n} days ago. What can I do?",
        "How do I reset my password? The link in the email expired.",
        "I was charged twice for my subscription this month ({num}). Please help.",
        "Can I change the delivery address for order {num}?",
        "The app crashes when I open the {topic} page on my phone.",
        "Do you ship to {city}? How long does it take?",
        "I want to cancel my plan but keep my data. Is that possible?",
    ),
    "writing": (
        "Make this product description more catchy: {product}, {n} colors, free returns.",
        "Write a LinkedIn post announcing our new feature for {topic}.",
        "Shorten this sentence: We are excited to announce that our team will be attending the {topic} conference "
        "in {city}.",
        "Give me 5 subject lines for a newsletter about {topic}.",
        "Fix the grammar: me and {name} was going to the store yesterday for buy {n} {items}.",
    ),
    "commerce": (
        "Which {product} is best for a beginner under {num} dollars?",
        "Compare the two {product} models you recommended yesterday.",
        "Is the {product} compatible with {topic}?",
        "What's your return policy for a {product} bought in {city}?",
    ),
    "education": (
        "Explain {topic} to a {n}th grader.",
        "Quiz me on {topic} with 3 questions.",
        "I got this homework question wrong: {name} has {n} {items} and buys {num} more. Why is the answer not {n}?",
        "Summarize chapter {n} of my notes on {topic}.",
    ),
}

PRODUCTS: tuple[str, ...] = (
    "running shoe",
    "espresso machine",
    "mechanical keyboard",
    "standing desk",
    "robot vacuum",
    "noise-cancelling headphone",
    "air fryer",
    "e-bike",
    "backpack",
    "smartwatch",
)

AGENT_INSTRUCTIONS: tuple[str, ...] = (
    "Add input validation to the {mod} endpoint and write tests for it.",
    "Refactor {file} to remove the duplicated retry logic.",
    "The CI job fails on {file}; find out why and fix it.",
    "Implement pagination for the list API in {mod}.",
    "Upgrade the {mod} module to the new config format and update the docs.",
    "Find and fix the race condition in {file}.",
    "Write a migration that adds an index on orders.created_at.",
    "Rename the {mod} package to {mod2} across the repo.",
)

AGENT_TOOL_RESULTS: tuple[str, ...] = (
    "Tool result (bash): {n} passed, {m} failed in {file}",
    "Tool result (read_file): {file} ({num} lines)",
    "Tool result (edit_file): applied 1 edit to {file}",
    "Tool result (grep): {n} matches for '{mod}' in {m} files",
    "Tool result (bash): exit code 1\n{error}",
    "Tool result (list_dir): src/{mod}/ has {n} files",
    "Tool result (bash): ruff: {n} errors fixed, {m} remaining",
    "Tool result (git_diff): {n} files changed, {num} insertions(+), {m} deletions(-)",
)

AGENT_FILES: tuple[str, ...] = (
    "billing",
    "auth",
    "orders",
    "search",
    "notifications",
    "ingest",
    "reports",
    "users",
    "payments",
    "scheduler",
    "cache",
    "export",
)

BATCH_TEMPLATES: tuple[str, ...] = (
    "Classify the sentiment of this customer review as positive, negative or neutral. Answer with one word.\n\n"
    "Review: {review}",
    "Extract the product name and the main complaint from this support ticket as JSON.\n\nTicket: {review}",
    "Summarize the following review in one sentence.\n\n{review}",
    "Translate the following review to English, keep the tone.\n\n{review}",
)

REVIEW_BITS: tuple[str, ...] = (
    "The {product} arrived on time",
    "the packaging was damaged",
    "works exactly as described",
    "battery life is shorter than advertised",
    "customer service never answered",
    "I would buy it again",
    "stopped working after {n} weeks",
    "great value for the price",
    "the color is different from the photos",
    "setup took {n} minutes",
    "my {n}-year-old loves it",
    "returned it for a refund",
)

MC_SUBJECTS: tuple[tuple[str, str, tuple[str, str, str, str]], ...] = (
    (
        "biology",
        "Which organelle is the main site of ATP production in eukaryotic cells?",
        ("Mitochondrion", "Ribosome", "Golgi apparatus", "Lysosome"),
    ),
    (
        "physics",
        "A ball is dropped from rest. Ignoring air resistance, what is its speed after {n} seconds (g = 9.8 m/s^2)?",
        ("{a} m/s", "{b} m/s", "{c} m/s", "{d} m/s"),
    ),
    (
        "economics",
        "If the price elasticity of demand is {e}, a {n}% price increase changes quantity demanded by about:",
        ("{a}%", "{b}%", "{c}%", "{d}%"),
    ),
    (
        "chemistry",
        "How many moles are in {n} grams of water (molar mass 18 g/mol)?",
        ("{a}", "{b}", "{c}", "{d}"),
    ),
    (
        "law",
        "Under a typical contract-law doctrine, an offer made to {name} lapses when:",
        (
            "The offeree rejects it",
            "The offeror sends a letter",
            "A week passes in all cases",
            "It is signed by a witness",
        ),
    ),
    (
        "history",
        "Which event most directly followed the fall of the Western Roman Empire in {n} AD?",
        ("Rise of barbarian kingdoms", "The Renaissance", "The Industrial Revolution", "The Reformation"),
    ),
    (
        "computer science",
        "What is the worst-case time complexity of searching a balanced BST with {n} nodes?",
        ("O(log n)", "O(n)", "O(1)", "O(n log n)"),
    ),
    (
        "statistics",
        "A fair die is rolled {n} times. What is the expected number of sixes?",
        ("{a}", "{b}", "{c}", "{d}"),
    ),
)

CODE_SPECS: tuple[tuple[str, str, str], ...] = (
    ("count_vowels", "s: str", "returns the number of vowels in `s`"),
    ("second_largest", "nums: list[int]", "returns the second largest distinct value in `nums`"),
    ("is_palindrome", "s: str", "returns True if `s` reads the same backwards, ignoring case and spaces"),
    (
        "merge_intervals",
        "intervals: list[tuple[int, int]]",
        "merges overlapping intervals and returns them sorted",
    ),
    ("run_length", "s: str", "returns the run-length encoding of `s`, e.g. 'aaab' -> 'a3b1'"),
    ("rotate_list", "xs: list[int], k: int", "rotates `xs` to the right by `k` positions"),
    ("nth_prime", "n: int", "returns the n-th prime number (1-indexed)"),
    ("flatten", "xs: list", "flattens arbitrarily nested lists"),
    ("word_freq", "text: str", "returns a dict of word -> count, case-insensitive"),
    ("max_subarray", "nums: list[int]", "returns the largest sum of a contiguous subarray"),
    ("to_roman", "n: int", "converts an integer between 1 and 3999 to a Roman numeral"),
    ("digits_sum", "n: int", "returns the sum of the decimal digits of `n`"),
)

COT_PHRASES: tuple[str, ...] = (
    "Let's think step by step.",
    "Think step by step and show your full reasoning before giving the final answer.",
    "Show your full reasoning.",
    "Explain your reasoning in detail, then state the final answer on its own line.",
    "Before answering, write out your complete chain of thought.",
    "Reason carefully through every step; do not skip any intermediate steps.",
    "Work through the problem step by step, verifying each step, then give the answer.",
    "First think through the problem thoroughly, then answer.",
)

# (prefix, suffix) around a task; campaigns pick one or a few and keep them.
COT_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("", "\n\nLet's think step by step."),
    ("Solve the following problem. Show your full reasoning before giving the final answer.\n\n", ""),
    ("Question: ", "\nAnswer: Let's work this out step by step to be sure we have the right answer."),
    (
        "You are an expert tutor. Explain every step of your reasoning in detail.\n\nProblem:\n",
        "\n\nEnd with 'Final answer:' followed by the answer.",
    ),
    ("", "\n\nThink carefully, write out your complete chain of thought, then give the final answer."),
    ("Task:\n", "\n\nProvide a detailed step-by-step solution, including all intermediate reasoning."),
)
