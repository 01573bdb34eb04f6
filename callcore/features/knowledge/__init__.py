"""The knowledge base (知识库): articles seats look up while they talk to a caller.

Articles have a title, a Markdown body, a class and a responsible unit, a validity window
(an article outside it is not offered to seats unless asked for) and a version. Search
works for Chinese without a dictionary: SQLite FTS5 with the trigram tokenizer, PostgreSQL
pg_trgm, one ranking on both (docs/decisions/knowledge.md).

- `model.py`     articles and their validation, queries, grams, snippets, words (zh/en);
- `tables.py`    the `knowledge_articles` table (migration 0005_knowledge adds the indexes);
- `service.py`   `KnowledgeService`: get, list, search, create, update, delete, import;
- `importer.py`  reading Markdown folders and CSV tables, every problem with file and line;
- `api.py`       the HTTP endpoints (seats read and search, supervisors edit);
- `cli.py`       `kb`: import, search, show, add, edit, delete.
"""
