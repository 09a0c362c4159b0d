"""The catalog's schema: `MIGRATIONS[i]` takes the catalog from version i to i+1."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE articles (
        id VARCHAR PRIMARY KEY,          -- e.g. T0454296EN
        language VARCHAR,
        url VARCHAR NOT NULL,
        title VARCHAR NOT NULL,
        published_at TIMESTAMPTZ,
        category VARCHAR,
        topics VARCHAR[],
        teaser VARCHAR,
        body_text VARCHAR,
        body_sha256 VARCHAR,
        attachment_urls VARCHAR[],
        first_seen_at TIMESTAMPTZ NOT NULL,
        fetched_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE attachments (
        article_id VARCHAR NOT NULL,
        url VARCHAR NOT NULL,
        sha256 VARCHAR,
        path VARCHAR,
        bytes BIGINT,
        pages INTEGER,
        status VARCHAR NOT NULL,         -- ok | not_pdf | failed | deferred
        error VARCHAR,
        fetched_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (article_id, url)
    );
    CREATE TABLE texts (
        article_id VARCHAR NOT NULL,
        stage VARCHAR NOT NULL,          -- regex | llm
        source VARCHAR,                  -- pdf | html_fallback
        text_sha256 VARCHAR,
        input_sha256 VARCHAR,            -- what this stage was computed from
        path VARCHAR,
        chars INTEGER,
        precision DOUBLE,
        recall DOUBLE,
        f1 DOUBLE,
        rules_hit VARCHAR[],
        status VARCHAR NOT NULL,         -- ok | fallback | rejected | failed
        reason VARCHAR,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (article_id, stage)
    );
    CREATE TABLE llm_decisions (
        text_sha256 VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        prompt_version VARCHAR NOT NULL,
        decision JSON NOT NULL,          -- kept paragraph indices, rejection and reason
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (text_sha256, model, prompt_version)
    );
    CREATE TABLE dataset_versions (
        version VARCHAR PRIMARY KEY,     -- content hash of the split files
        path VARCHAR NOT NULL,
        rows_train INTEGER, rows_validation INTEGER, rows_test INTEGER,
        tokens_train BIGINT, tokens_validation BIGINT, tokens_test BIGINT,
        articles INTEGER,
        created_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE dataset_splits (
        version VARCHAR NOT NULL,
        article_id VARCHAR NOT NULL,
        split VARCHAR NOT NULL,          -- train | validation | test
        PRIMARY KEY (version, article_id)
    );
    CREATE TABLE training_runs (
        variant VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        dataset_version VARCHAR,
        config_sha256 VARCHAR,
        path VARCHAR,
        status VARCHAR NOT NULL,
        tokens_per_second DOUBLE,
        wall_seconds DOUBLE,
        train_loss DOUBLE,
        eval_loss DOUBLE,
        layers INTEGER,
        total_params BIGINT,
        trainable_params BIGINT,
        device VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (variant, run_id)
    );
    CREATE TABLE eval_results (
        variant VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        value DOUBLE,
        n INTEGER,
        config_sha256 VARCHAR,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (variant, run_id, metric)
    );
    """,
    # 1 -> 2: what article_index could not fetch, kept until a later run fetches it.
    """
    CREATE TABLE fetch_failures (
        item VARCHAR NOT NULL,           -- an article id, or the feed or listing that failed
        url VARCHAR NOT NULL,
        reason VARCHAR,
        attempts INTEGER NOT NULL,       -- runs that failed on it since it last succeeded
        first_failed_at TIMESTAMPTZ NOT NULL,
        last_failed_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (item, url)
    );
    """,
    # 2 -> 3: the text gates' verdict per text (bmw_assets.text.gates); source gains 'rejected'.
    """
    ALTER TABLE texts ADD COLUMN gate VARCHAR;              -- the gate that fired (PDF text first), NULL if none
    ALTER TABLE texts ADD COLUMN gate_score DOUBLE;         -- that gate's score
    ALTER TABLE texts ADD COLUMN detected_language VARCHAR; -- of the text whose gate fired, else of the text used
    ALTER TABLE texts ADD COLUMN gate_scores JSON;          -- {"pdf": {gate: score}, "html": {gate: score}}
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
