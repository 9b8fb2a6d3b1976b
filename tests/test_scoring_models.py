"""Predictive models: BG/NBD and Gamma-Gamma against the published CDNOW figures and lifetimes,
degenerate tenants, the SQL summary's as_of rules, and GET /v1/scoring/models.

The domain tests need no database. The store tests write scoring's ``orders`` table directly (the
projection from profile's events is tested elsewhere) and call ``fit_and_score`` as a run does.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import approx_fprime

from services.runtime.database import Database, create_engine
from services.runtime.tenancy import Tenant
from services.runtime.tenant_store import upsert_tenant
from services.scoring.domain import bgnbd, gamma_gamma, predictive
from services.scoring.domain.clv import discounted_repeat_purchases, monthly_discount_factors
from services.scoring.domain.config import ScoringConfig
from services.scoring.store.feature_tables import order_refunds, orders
from services.scoring.store.prediction_tables import prediction_models, predictions
from services.scoring.store.predictions import PredictionOutcome, customer_summaries, fit_and_score
from services.scoring.store.tables import customers, tenants
from tests import cdnow_data
from tests.conftest import TenantKey, create_tenant

SETTINGS = predictive.PredictionSettings(
    min_customers=100, horizon_months=12, annual_discount_rate=0.10, currency_exponent=2
)


def cdnow_groups() -> tuple[predictive.HistoryGroups, predictive.SpendGroups]:
    days = cdnow_data.summary_in_days(cdnow_data.reference().summary)
    ones = np.ones_like(days["x"])
    return (
        predictive.HistoryGroups(days["x"], days["recency_days"], days["age_days"], ones),
        predictive.SpendGroups(days["x"], days["repeat_net_minor"], ones),
    )


@pytest.fixture(scope="module")
def cdnow_prediction() -> predictive.Prediction:
    histories, spends = cdnow_groups()
    return predictive.predict(histories, spends, SETTINGS)


def params_of(prediction: predictive.Prediction) -> dict[str, float]:
    assert prediction.bgnbd is not None
    assert prediction.gamma_gamma is not None
    purchases, spending = prediction.bgnbd.params, prediction.gamma_gamma.params
    return {
        "r": purchases.r,
        "alpha": purchases.alpha,
        "a": purchases.a,
        "b": purchases.b,
        "p": spending.p,
        "q": spending.q,
        "gamma": spending.gamma,
    }


# ---- the domain on CDNOW ------------------------------------------------------------------------


def test_cdnow_fit_gives_the_published_parameters(cdnow_prediction: predictive.Prediction) -> None:
    assert cdnow_prediction.status == predictive.FITTED
    assert cdnow_prediction.customers == 2357
    assert cdnow_prediction.repeat_customers == 946
    fitted = params_of(cdnow_prediction)
    for name, published in cdnow_data.PUBLISHED.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    for name, theirs in cdnow_data.reference().params.items():
        assert fitted[name] == pytest.approx(theirs, rel=1e-4), name
    # FHL (2005) report LL = -9582.4 for this cohort.
    assert cdnow_prediction.bgnbd is not None
    assert cdnow_prediction.bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_cdnow_customers_agree_with_lifetimes(cdnow_prediction: predictive.Prediction) -> None:
    reference = cdnow_data.reference()
    scores = cdnow_prediction.history_scores
    assert scores is not None
    assert cdnow_prediction.spend_minor is not None
    np.testing.assert_allclose(scores.p_alive, reference.p_alive.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(scores.expected_purchases_30d, reference.expected_30d.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(
        cdnow_prediction.spend_minor / 100, reference.expected_spend.to_numpy(), rtol=1e-4
    )


def test_clv_is_lifetimes_customer_lifetime_value(cdnow_prediction: predictive.Prediction) -> None:
    """Same formula as lifetimes' once its monthly rate is the annual one's equivalent and its
    month (4.345 weeks) is used."""
    reference = cdnow_data.reference()
    summary = reference.summary
    monthly = 1.10 ** (1 / 12) - 1
    theirs = reference.gamma_gamma.customer_lifetime_value(
        reference.bgnbd,
        summary["frequency"],
        summary["recency"],
        summary["T"],
        summary["monetary_value"],
        time=12,
        discount_rate=monthly,
        freq="W",
    ).to_numpy()
    histories, _ = cdnow_groups()
    assert cdnow_prediction.bgnbd is not None
    assert cdnow_prediction.history_scores is not None
    assert cdnow_prediction.spend_minor is not None
    discounted = discounted_repeat_purchases(
        cdnow_prediction.bgnbd.params,
        histories.repeat_days,
        histories.age_days / 7,
        months=12,
        annual_discount_rate=0.10,
        weeks_per_month=4.345,
    )
    ours = cdnow_prediction.spend_minor * cdnow_prediction.history_scores.p_alive * discounted / 100
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert monthly_discount_factors(12, 0.10)[-1] == pytest.approx(1 / 1.10)


def test_grouping_identical_histories_changes_nothing() -> None:
    """The store sends distinct histories with counts; the fit must equal the one on raw rows."""
    histories, spends = cdnow_groups()
    keys = np.stack([histories.repeat_days, histories.recency_days, histories.age_days])
    distinct, counts = np.unique(keys, axis=1, return_counts=True)
    assert distinct.shape[1] < histories.repeat_days.size
    grouped = predictive.HistoryGroups(distinct[0], distinct[1], distinct[2], counts)
    spend_keys = np.stack([spends.repeat_days, spends.repeat_net_minor])
    spend_distinct, spend_counts = np.unique(spend_keys, axis=1, return_counts=True)
    grouped_spends = predictive.SpendGroups(spend_distinct[0], spend_distinct[1], spend_counts)
    fit_grouped = predictive.predict(grouped, grouped_spends, SETTINGS)
    fit_raw = predictive.predict(histories, spends, SETTINGS)
    for name, value in params_of(fit_raw).items():
        assert params_of(fit_grouped)[name] == pytest.approx(value, rel=1e-6)


def test_gradients_are_the_likelihoods_derivatives() -> None:
    histories, spends = cdnow_groups()
    weeks = bgnbd.Histories(
        histories.repeat_days,
        histories.recency_days / 7,
        histories.age_days / 7,
        histories.customers.astype(float),
    )
    point = np.log([0.3, 4.0, 0.8, 2.5])
    value, analytic = bgnbd._negative_mean_ll(point, weeks)
    numeric = approx_fprime(point, lambda p: bgnbd._negative_mean_ll(p, weeks)[0], 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6)
    assert value == pytest.approx(
        -bgnbd.log_likelihood(bgnbd.BgNbdParams(*np.exp(point)), weeks) / weeks.weights.sum()
    )
    repeat = spends.repeat_days > 0
    money = gamma_gamma.Spends(
        spends.repeat_days[repeat],
        spends.repeat_net_minor[repeat] / spends.repeat_days[repeat] / 100,
        spends.customers[repeat].astype(float),
    )
    point = np.log([6.0, 3.5, 15.0])
    _, analytic = gamma_gamma._negative_mean_ll(point, money)
    numeric = approx_fprime(point, lambda p: gamma_gamma._negative_mean_ll(p, money)[0], 1e-7)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-6)


def test_log_likelihood_matches_lifetimes() -> None:
    reference = cdnow_data.reference()
    summary = reference.summary
    frequency = summary["frequency"].to_numpy()
    theirs = reference.bgnbd._negative_log_likelihood(
        np.log([0.25, 4.0, 0.7, 2.0]),
        frequency,
        summary["recency"].to_numpy(),
        summary["T"].to_numpy(),
        np.ones_like(frequency),
        0.0,
    )
    weeks = bgnbd.Histories(
        frequency.astype(np.int64),
        summary["recency"].to_numpy(),
        summary["T"].to_numpy(),
        np.ones_like(frequency, dtype=float),
    )
    ours = bgnbd.log_likelihood(bgnbd.BgNbdParams(0.25, 4.0, 0.7, 2.0), weeks)
    assert -ours / frequency.size == pytest.approx(theirs, rel=1e-10)


# ---- degenerate tenants --------------------------------------------------------------------------


def groups(rows: list[tuple[int, int, int, int]], min_customers: int = 1) -> predictive.Prediction:
    """Fit customers given as (x, recency_days, age_days, repeat_net_minor)."""
    array = np.array(rows, dtype=np.int64).reshape(-1, 4)
    ones = np.ones(array.shape[0], dtype=np.int64)
    histories = predictive.HistoryGroups(array[:, 0], array[:, 1], array[:, 2], ones)
    spends = predictive.SpendGroups(array[:, 0], array[:, 3], ones)
    settings = predictive.PredictionSettings(min_customers, 12, 0.1, 2)
    return predictive.predict(histories, spends, settings)


def assert_no_nan(prediction: predictive.Prediction) -> None:
    for fit in (prediction.bgnbd, prediction.gamma_gamma):
        if fit is not None and prediction.status == predictive.FITTED:
            assert all(math.isfinite(v) for v in vars_of(fit.params))
    if prediction.history_scores is not None:
        assert np.all(np.isfinite(prediction.history_scores.p_alive))
    assert prediction.status in predictive.STATUSES


def vars_of(params: Any) -> list[float]:
    return [getattr(params, name) for name in params.__slots__]


def test_empty_tenant_has_insufficient_data() -> None:
    prediction = groups([])
    assert prediction.status == predictive.INSUFFICIENT_DATA
    assert prediction.customers == 0
    assert prediction.history_scores is None


def test_one_customer_or_nobody_repeating_has_insufficient_data() -> None:
    assert groups([(0, 0, 30, 0)]).status == predictive.INSUFFICIENT_DATA
    nobody = groups([(0, 0, age, 0) for age in range(1, 300)])
    assert nobody.status == predictive.INSUFFICIENT_DATA
    assert "again" in nobody.detail


def test_fewer_customers_than_the_minimum_has_insufficient_data() -> None:
    rows = [(1 + i % 3, 10 + i, 100 + i, 1000 * (1 + i % 3)) for i in range(50)]
    prediction = groups(rows, min_customers=51)
    assert prediction.status == predictive.INSUFFICIENT_DATA
    assert "51" in prediction.detail


def test_repeat_customers_who_spent_nothing_have_insufficient_data() -> None:
    rows = [(1, 10, 50 + i, 0) for i in range(20)] + [(0, 0, 40 + i, 0) for i in range(20)]
    prediction = groups(rows)
    assert prediction.status == predictive.INSUFFICIENT_DATA
    assert prediction.bgnbd is not None  # the purchase model was fitted; spend could not be


def test_huge_values_give_a_status_not_nan() -> None:
    rows = [(10**6 + i, 10**7, 10**7 + i, 10**15) for i in range(5)] + [(0, 0, 10**7, 0)] * 3
    prediction = groups(rows)
    assert_no_nan(prediction)
    every_day = [(d, d, d, 10**15 * d) for d in range(1, 40)]
    assert_no_nan(groups(every_day))


def test_identical_spends_cannot_be_fitted_and_say_so() -> None:
    """Every repeat customer spending exactly the same: no finite Gamma-Gamma optimum."""
    rows = [(2, 20 + i % 5, 60 + i, 2000) for i in range(40)] + [(0, 0, 30 + i, 0) for i in range(40)]
    prediction = groups(rows)
    assert prediction.status in (predictive.NOT_CONVERGED, predictive.DEGENERATE, predictive.FITTED)
    assert_no_nan(prediction)


def test_currency_exponents() -> None:
    assert predictive.currency_exponent("USD") == 2
    assert predictive.currency_exponent("CNY") == 2
    assert predictive.currency_exponent("jpy") == 0
    assert predictive.currency_exponent("KWD") == 3


history = st.tuples(st.integers(0, 200), st.integers(0, 2000), st.integers(0, 2000)).map(
    lambda t: (t[0], min(t[1], t[2]) if t[0] > 0 else 0, t[2])
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(history, min_size=1, max_size=40),
    st.tuples(*(st.floats(0.01, 50.0) for _ in range(4))),
)
def test_likelihood_is_finite_and_p_alive_a_probability(
    rows: list[tuple[int, int, int]], raw: tuple[float, float, float, float]
) -> None:
    array = np.array(rows, dtype=np.int64)
    weeks = bgnbd.Histories(array[:, 0], array[:, 1] / 7, array[:, 2] / 7, np.ones(len(rows)))
    params = bgnbd.BgNbdParams(*raw)
    assert math.isfinite(bgnbd.log_likelihood(params, weeks))
    alive = bgnbd.probability_alive(params, weeks.x, weeks.t_x, weeks.T)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(alive[weeks.x == 0] == 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(history, st.integers(0, 10**9)), min_size=1, max_size=60))
def test_any_tenant_gets_a_status_and_never_nan(rows: list[tuple[tuple[int, int, int], int]]) -> None:
    prediction = groups([(x, rec, age, net if x else 0) for (x, rec, age), net in rows])
    assert_no_nan(prediction)
    if prediction.status == predictive.FITTED:
        scores = prediction.history_scores
        assert scores is not None
        assert prediction.spend_minor is not None
        assert np.all((scores.p_alive >= 0) & (scores.p_alive <= 1))
        assert np.all(scores.expected_purchases_30d >= 0)
        assert np.all(prediction.spend_minor >= 0)


# ---- the store: summary in SQL, fit, predictions written ------------------------------------------


@pytest.fixture(scope="module")
async def scoring_db(database_urls: dict[str, str]) -> AsyncIterator[Database]:
    database = Database(create_engine(database_urls["scoring"], application_name="test-predictions"))
    yield database
    await database.engine.dispose()


async def new_tenant(database: Database, timezone: str = "UTC", currency: str = "USD") -> uuid.UUID:
    tenant_id = uuid.uuid4()
    async with database.transaction() as connection:
        await upsert_tenant(connection, tenants, Tenant(tenant_id, "Predictions", timezone, currency, "US"))
    return tenant_id


def order(tenant_id: uuid.UUID, order_id: str, customer: uuid.UUID, paid_at: str, amount: int,
          refunded: int = 0, currency: str = "USD") -> dict[str, Any]:  # fmt: skip
    return {
        "tenant_id": tenant_id,
        "order_id": order_id,
        "customer_id": customer,
        "paid_at": datetime.fromisoformat(paid_at),
        "currency": currency,
        "amount_minor": amount,
        "refunded_minor": refunded,
    }


async def load_cdnow_orders(database: Database, tenant_id: uuid.UUID) -> None:
    rows = [
        order(
            tenant_id,
            f"cdnow-{row.line}",
            cdnow_data.customer_uuid(row.customer),
            f"{row.day.isoformat()}T12:00:00+00:00",
            row.amount_minor,
        )
        for row in cdnow_data.rows()
    ]
    async with database.transaction() as connection:
        await connection.execute(sa.insert(orders), rows)


async def fit(database: Database, tenant_id: uuid.UUID, as_of: date, **config: Any) -> PredictionOutcome:
    async with database.transaction() as connection:
        return await fit_and_score(connection, tenant_id, as_of, ScoringConfig(**config))


async def predictions_of(database: Database, tenant_id: uuid.UUID) -> dict[uuid.UUID, Any]:
    async with database.read() as connection:
        result = await connection.execute(sa.select(predictions).where(predictions.c.tenant_id == tenant_id))
        return {row.customer_id: row for row in result}


async def test_store_summary_and_fit_reproduce_cdnow(scoring_db: Database) -> None:
    tenant_id = await new_tenant(scoring_db)
    await load_cdnow_orders(scoring_db, tenant_id)
    outcome = await fit(scoring_db, tenant_id, cdnow_data.CALIBRATION_END)
    assert (outcome.status, outcome.customers, outcome.written) == ("fitted", 2357, 2357)

    async with scoring_db.read() as connection:
        model = (
            await connection.execute(
                sa.select(prediction_models).where(prediction_models.c.tenant_id == tenant_id)
            )
        ).one()
    fitted = {
        "r": model.bgnbd_r,
        "alpha": model.bgnbd_alpha,
        "a": model.bgnbd_a,
        "b": model.bgnbd_b,
        "p": model.gg_p,
        "q": model.gg_q,
        "gamma": model.gg_gamma,
    }
    for name, published in cdnow_data.PUBLISHED.items():
        assert fitted[name] == pytest.approx(published, rel=0.01), name
    assert model.diagnostics["bgnbd"]["converged"] is True

    reference = cdnow_data.reference()
    rows = await predictions_of(scoring_db, tenant_id)
    ids = [cdnow_data.customer_uuid(c) for c in reference.summary.index]
    ours_alive = np.array([rows[i].p_alive for i in ids])
    ours_30d = np.array([rows[i].expected_purchases_30d for i in ids])
    np.testing.assert_allclose(ours_alive, reference.p_alive.to_numpy(), atol=1e-3)
    np.testing.assert_allclose(ours_30d, reference.expected_30d.to_numpy(), atol=1e-3)
    spend = np.array([rows[i].expected_avg_spend_minor for i in ids])
    np.testing.assert_allclose(spend, np.rint(reference.expected_spend.to_numpy() * 100), atol=1)
    assert all(rows[i].as_of == cdnow_data.CALIBRATION_END for i in ids)
    assert all(rows[i].clv_minor >= 0 for i in ids)


async def test_as_of_time_zone_same_day_and_refund_rules(scoring_db: Database) -> None:
    """Shanghai tenant, as of 2025-03-31: what counts as a purchase day, and for how much."""
    tenant_id = await new_tenant(scoring_db, timezone="Asia/Shanghai", currency="CNY")
    alice, bob, erased = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = [
        order(tenant_id, "a1", alice, "2025-01-01T02:00:00+00:00", 1000, currency="CNY"),
        # 2025-01-10 local, twice: one purchase day worth 3000 + 2000 - 500 refunded.
        order(tenant_id, "a2", alice, "2025-01-10T01:00:00+00:00", 3000, currency="CNY"),
        order(tenant_id, "a3", alice, "2025-01-10T15:00:00+00:00", 2000, 500, currency="CNY"),
        # Refunded in full before as_of: not a purchase.
        order(tenant_id, "a4", alice, "2025-02-01T02:00:00+00:00", 9000, 9000, currency="CNY"),
        # Refunded in full, but after as_of: still a purchase of 4000 as of then.
        order(tenant_id, "a5", alice, "2025-03-01T02:00:00+00:00", 4000, 4000, currency="CNY"),
        # 2025-03-31T16:30Z is 2025-04-01 00:30 in Shanghai: after as_of.
        order(tenant_id, "a6", alice, "2025-03-31T16:30:00+00:00", 7000, currency="CNY"),
        # Another currency is not comparable money: left out.
        order(tenant_id, "a7", alice, "2025-03-05T02:00:00+00:00", 100, currency="USD"),
        # 2025-03-31T15:59Z is 23:59 local on as_of: in.
        order(tenant_id, "b1", bob, "2025-03-31T15:59:00+00:00", 0, currency="CNY"),
        order(tenant_id, "e1", erased, "2025-01-01T02:00:00+00:00", 1000, currency="CNY"),
    ]
    async with scoring_db.transaction() as connection:
        await connection.execute(sa.insert(orders), rows)
        await connection.execute(
            sa.insert(order_refunds),
            [
                {
                    "tenant_id": tenant_id,
                    "order_id": "a3",
                    "refund_id": "r1",
                    "amount_minor": 500,
                    "refunded_at": datetime(2025, 1, 11, tzinfo=UTC),
                },
                {
                    "tenant_id": tenant_id,
                    "order_id": "a4",
                    "refund_id": "r1",
                    "amount_minor": 9000,
                    "refunded_at": datetime(2025, 2, 2, tzinfo=UTC),
                },
                {
                    "tenant_id": tenant_id,
                    "order_id": "a5",
                    "refund_id": "r1",
                    "amount_minor": 4000,
                    "refunded_at": datetime(2025, 4, 5, tzinfo=UTC),
                },
            ],
        )
        await connection.execute(
            sa.insert(customers).values(
                tenant_id=tenant_id,
                customer_id=erased,
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
                erased_at=datetime(2025, 2, 1, tzinfo=UTC),
            )
        )
        columns = await customer_summaries(connection, tenant_id, date(2025, 3, 31))
    assert columns["repeat_days"].size == 2  # the erased customer is not there
    ids = sorted([alice, bob])  # the columns come in customer_id order
    summary = {
        customer: tuple(int(columns[name][row]) for name in columns) for row, customer in enumerate(ids)
    }
    # Alice: days 01-01, 01-10, 03-01 -> x = 2, t_x = 59, T = 89, repeat net = 4500 + 4000.
    assert summary == {alice: (2, 59, 89, 8500), bob: (0, 0, 0, 0)}


async def test_too_few_customers_record_a_status_and_clear_predictions(scoring_db: Database) -> None:
    tenant_id = await new_tenant(scoring_db)
    await load_cdnow_orders(scoring_db, tenant_id)
    first = await fit(scoring_db, tenant_id, cdnow_data.CALIBRATION_END)
    assert first.status == "fitted"
    assert len(await predictions_of(scoring_db, tenant_id)) == 2357

    # As of the first week of January only a few hundred customers had bought, none twice on a
    # later day than their first... and the minimum asks for more customers than there are.
    again = await fit(scoring_db, tenant_id, date(1997, 1, 7), min_model_customers=100_000)
    assert again.status == "insufficient_data"
    assert again.written == 0
    assert await predictions_of(scoring_db, tenant_id) == {}
    async with scoring_db.read() as connection:
        latest = (
            await connection.execute(
                sa.select(prediction_models)
                .where(prediction_models.c.tenant_id == tenant_id)
                .order_by(prediction_models.c.fitted_at.desc())
            )
        ).first()
    assert latest is not None
    assert latest.status == "insufficient_data"
    assert latest.bgnbd_r is None
    assert latest.gg_gamma is None
    assert "100000" in latest.detail


async def test_a_fit_touches_only_its_own_tenant(scoring_db: Database) -> None:
    mine, theirs = await new_tenant(scoring_db), await new_tenant(scoring_db)
    await load_cdnow_orders(scoring_db, mine)
    await load_cdnow_orders(scoring_db, theirs)
    await fit(scoring_db, theirs, cdnow_data.CALIBRATION_END)
    before = await predictions_of(scoring_db, theirs)
    outcome = await fit(scoring_db, mine, date(1997, 3, 1))
    assert outcome.status == "fitted"
    assert await predictions_of(scoring_db, theirs) == before
    assert len(await predictions_of(scoring_db, mine)) == outcome.customers < 2357


async def test_concurrent_fits_of_one_tenant_take_turns(scoring_db: Database) -> None:
    """Two runs racing on one tenant: the per-tenant lock makes them take turns, and the tenant
    ends with exactly one prediction per customer from whichever committed last."""
    tenant_id = await new_tenant(scoring_db)
    await load_cdnow_orders(scoring_db, tenant_id)
    outcomes = await asyncio.gather(
        fit(scoring_db, tenant_id, cdnow_data.CALIBRATION_END),
        fit(scoring_db, tenant_id, date(1997, 3, 1)),
        fit(scoring_db, tenant_id, cdnow_data.CALIBRATION_END),
    )
    assert all(outcome.status == "fitted" for outcome in outcomes)
    rows = await predictions_of(scoring_db, tenant_id)
    dates = {row.as_of for row in rows.values()}
    assert len(dates) == 1
    assert len(rows) == next(o.customers for o in outcomes if o.as_of in dates)
    async with scoring_db.read() as connection:
        fits = (
            await connection.execute(
                sa.select(prediction_models.c.as_of).where(prediction_models.c.tenant_id == tenant_id)
            )
        ).all()
    assert sorted(row.as_of for row in fits) == [date(1997, 3, 1), cdnow_data.CALIBRATION_END]


# ---- REST ---------------------------------------------------------------------------------------


async def test_models_endpoint_answers_the_latest_fit(
    api: httpx.AsyncClient, scoring_db: Database, tenant: TenantKey, other_tenant: TenantKey
) -> None:
    # A new tenant has no model, or only what its first daily run (no orders) recorded.
    fresh = await api.get("/v1/scoring/models", headers=tenant.headers)
    assert fresh.status_code == 404 or fresh.json()["customers"] == 0, fresh.text

    shop = await create_tenant(api, "CDNOW", timezone="UTC", currency="USD")
    switched_off = {"schedule": {"enabled": False}}  # the models read back are this test's fits
    assert (await api.put("/v1/scoring/config", json=switched_off, headers=shop.headers)).status_code == 200
    tenant_id = uuid.UUID(shop.tenant_id)
    await load_cdnow_orders(scoring_db, tenant_id)
    await fit(scoring_db, tenant_id, date(1997, 1, 7), min_model_customers=100_000)
    await fit(scoring_db, tenant_id, cdnow_data.CALIBRATION_END)

    response = await api.get("/v1/scoring/models", headers=shop.headers)
    assert response.status_code == 200, response.text
    latest = response.json()
    dated = await api.get("/v1/scoring/models?as_of=1997-09-30", headers=shop.headers)
    assert dated.status_code == 200, dated.text
    body = dated.json()
    assert latest["fitted_at"] >= body["fitted_at"]
    assert body["as_of"] == "1997-09-30"
    assert body["status"] == "fitted"
    assert body["customers"] == 2357
    assert body["currency"] == "USD"
    got = {**body["bgnbd"], **body["gamma_gamma"]}
    for name, published in cdnow_data.PUBLISHED.items():
        assert got[name] == pytest.approx(published, rel=0.01), name
    assert body["diagnostics"]["bgnbd"]["converged"] is True

    earlier = await api.get("/v1/scoring/models?as_of=1997-01-07", headers=shop.headers)
    assert earlier.status_code == 200
    assert earlier.json()["status"] == "insufficient_data"
    assert earlier.json()["bgnbd"] is None
    assert earlier.json()["gamma_gamma"] is None

    missing = await api.get("/v1/scoring/models?as_of=1997-02-01", headers=shop.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    bad = await api.get("/v1/scoring/models?as_of=yesterday", headers=shop.headers)
    assert bad.status_code == 422
    assert "as_of" in bad.text
    # Another tenant's key sees none of it.
    foreign = await api.get("/v1/scoring/models?as_of=1997-09-30", headers=other_tenant.headers)
    assert foreign.status_code == 404
