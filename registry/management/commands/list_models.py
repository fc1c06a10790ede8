from django.core.management.base import BaseCommand

from registry.models import ModelVersion


class Command(BaseCommand):
    help = "List every registered model version with its state and hold-out figures."

    def handle(self, *args, **options):
        versions = ModelVersion.objects.order_by("created_at", "id")
        if not versions:
            self.stdout.write("No model is registered yet; the built-in checkpoint is in use.")
        for v in versions:
            cand = (v.holdout_evaluation or {}).get("candidate") or {}
            auc = cand.get("roc_auc")
            figures = f"hold-out AUC {auc:.4f}, FPR {100 * (cand.get('fpr') or 0):.2f}%" if auc is not None else "no hold-out figures"
            self.stdout.write(f"{v.status:9} {v.version}  sha256 {v.sha256[:12]}  {figures}")
