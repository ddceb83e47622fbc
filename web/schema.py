"""Every table of the app in one place: the models, the sandbox registries, the face templates."""


def all_metadata():
    """Return the MetaData objects that make up the schema (what migrations manage)."""
    import cases.audit  # noqa: F401  (registers the models on db.metadata)
    import cases.models  # noqa: F401
    import cases.notifications  # noqa: F401
    import cases.portal.models  # noqa: F401
    import cases.programme  # noqa: F401
    import cases.tokens  # noqa: F401
    import engine.models  # noqa: F401
    import engine.runs  # noqa: F401
    import integrations.registry_faces  # noqa: F401  (registers its table on face_metadata)
    import integrations.selfie_faces  # noqa: F401  (registers its table on face_metadata)
    import payments.models  # noqa: F401
    from engine.db import db
    from integrations.face_index import face_metadata
    from integrations.sandbox.tables import sandbox_metadata

    return [db.metadata, sandbox_metadata, face_metadata]


def reset_schema(engine):
    """Drop and create every table (tests and benchmarks; the app itself uses migrations)."""
    from sqlalchemy import text

    metadatas = all_metadata()
    for metadata in reversed(metadatas):
        metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    for metadata in metadatas:
        metadata.create_all(engine)
