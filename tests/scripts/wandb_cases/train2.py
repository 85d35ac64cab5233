"""The original report: wandb.init, log and finish at top level, no main guard."""
import wandb

run = wandb.init(project="spawnfix-report", config={"epochs": 2})
for epoch in range(2):
    wandb.log({"epoch": epoch, "loss": 1.0 / (epoch + 1)})
run.finish()
print("finished", run.id)
