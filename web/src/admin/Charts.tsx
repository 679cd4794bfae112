// The last 24 hours: completed and failed per hour, and the provider's mean
// response time per hour (recharts).
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { useI18n } from "../i18n";
import type { HourBucket } from "./api";

export function Charts({ hours }: { hours: HourBucket[] }) {
  const { t, lang } = useI18n();
  const data = hours.map((hour) => ({
    hour: new Date(hour.bucket_start).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }),
    [t("completed")]: Number(hour.completed),
    [t("failed")]: Number(hour.failed),
    ms: hour.mean_response_ms == null ? null : Math.round(hour.mean_response_ms),
  }));
  return (
    <section aria-labelledby="charts-title" className="card charts">
      <h2 id="charts-title">{t("charts")}</h2>
      <figure>
        <figcaption>{t("perHour")}</figcaption>
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="hour" minTickGap={16} />
            <YAxis allowDecimals={false} />
            <Tooltip />
            <Legend />
            <Bar dataKey={t("completed")} fill="#1b7f3b" />
            <Bar dataKey={t("failed")} fill="#b3261e" />
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <figure>
        <figcaption>{t("responseChart")}</figcaption>
        <ResponsiveContainer width="100%" height={180}>
          <LineChart data={data}>
            <CartesianGrid strokeDasharray="3 3" />
            <XAxis dataKey="hour" minTickGap={16} />
            <YAxis />
            <Tooltip />
            <Line type="monotone" dataKey="ms" stroke="#30578f" connectNulls />
          </LineChart>
        </ResponsiveContainer>
      </figure>
    </section>
  );
}
